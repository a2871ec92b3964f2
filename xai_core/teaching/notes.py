"""Teaching notes (the Learn page's lesson texts): one idea (plain words) and one formula (LaTeX) per method id.

Written for this app, after the survey's taxonomy (Wang et al. 2024, "Gradient based Feature Attribution in
Explainable AI: A Technical Review", sections 2-3) and the methods' own papers; names, titles and paper links come
from the registries (``methods.describe()``, ``noise.describe()``, ``metrics.describe()``), never from here. Keys
are registry ids plus the post-processing modes (``noise.MODES``), which wrap any method and form the survey's
fourth family. A test checks that every registered method and noise mode has an entry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Note:
    idea: str  # what the method does and why, in two or three sentences
    formula: str  # LaTeX for st.latex
    symbols: str = ""  # what the letters in the formula stand for, when they are not the usual ones


FAMILY_TITLES = {
    "vanilla": "Vanilla gradients",
    "integrated": "Integrated gradients",
    "bias": "Bias gradients",
    "postprocess": "Post-processing",
}
FAMILY_IDEAS = {
    "vanilla": "One backward pass at the image itself: the gradient, or the gradient under a modified ReLU rule.",
    "integrated": "Add up gradients along a path from a reference image (the baseline) to the image.",
    "bias": "Also credit the network's bias terms, then spread that credit over the pixels.",
    "postprocess": "Average (or take the variance of) any method's map over noisy copies of the image.",
}

_GRAD = r"\frac{\partial f_c(\mathbf{x})}{\partial x_{k,ij}}"
_PATH = r"\gamma(\alpha) = \mathbf{x}' + \alpha(\mathbf{x} - \mathbf{x}')"

NOTES: dict[str, Note] = {
    # --- vanilla gradients ------------------------------------------------------------------------------------
    "saliency": Note(
        "Ask how fast the class score changes when one pixel changes a little. The gradient answers for all "
        "pixels at once; the map keeps its size, the largest over the three colour channels.",
        rf"M_{{ij}} = \max_{{k}} \left| {_GRAD} \right|",
        r"$c$: explained class, $k$: colour channel, $(i, j)$: pixel.",
    ),
    "squared_gradient": Note(
        "The same local sensitivity as the saliency map, but squared and added over colour channels, so large "
        "slopes stand out more and the sign is dropped.",
        rf"M_{{ij}} = \sum_{{k}} \left( {_GRAD} \right)^2",
    ),
    "input_x_gradient": Note(
        "Multiply each input value by its gradient: a first-order estimate of how much that value contributes "
        "compared with setting it to zero. Keeps the sign, so evidence against the class shows up too.",
        r"a_{k,ij} = x_{k,ij}\,\frac{\partial f_c(\mathbf{x})}{\partial x_{k,ij}}, \qquad "
        r"M_{ij} = \sum_k a_{k,ij}",
    ),
    "deconvnet": Note(
        "Run the backward pass, but at every ReLU let through only the positive part of the signal coming from "
        "above, whatever the ReLU did in the forward pass. The map shows which input patterns would excite the "
        "class, not how this image was processed.",
        r"R^{(l)} = \mathbf{1}\!\left[R^{(l+1)} > 0\right] R^{(l+1)}",
        r"$R^{(l+1)}$: the signal arriving at the ReLU from above, $R^{(l)}$: what it passes down.",
    ),
    "guided_backprop": Note(
        "Combine the two masks: a ReLU passes the signal only where it was active in the forward pass AND the "
        "signal from above is positive. Sharp, image-like maps, but negative evidence is lost.",
        r"R^{(l)} = \mathbf{1}\!\left[z^{(l)} > 0\right]\,\mathbf{1}\!\left[R^{(l+1)} > 0\right] R^{(l+1)}",
        r"$z^{(l)}$: the ReLU's forward input.",
    ),
    "rectgrad": Note(
        "Keep only the important part of the signal at each ReLU: an entry passes when its activation times "
        "the incoming signal is above the layer's q-th percentile. Larger q gives sparser, cleaner maps.",
        r"R^{(l)} = \mathbf{1}\!\left[a^{(l)} R^{(l+1)} > \tau_q\right] R^{(l+1)}, \qquad "
        r"\tau_q = \operatorname{percentile}_q\!\left(a^{(l)} R^{(l+1)}\right)",
        r"$a^{(l)} = \mathrm{ReLU}(z^{(l)})$: the activation; the percentile runs over the layer, per image.",
    ),
    "lrp": Note(
        "Hand the class score down the network layer by layer: each neuron passes its relevance to its inputs in "
        "proportion to their contribution, so (up to biases) the relevance adds up to the score. Rules decide "
        "the shares: epsilon for dense layers, positive contributions (z+) for convolutions, flat for the first.",
        r"R_i = \sum_j \frac{x_i w_{ij}}{z_j + \epsilon\,\mathrm{sign}(z_j)} R_j, \qquad z_j = \sum_i x_i w_{ij} + b_j",
        r"$R_j$: relevance of neuron $j$ in the layer above; the epsilon rule, shown here, tends to gradient × "
        r"input as $\epsilon \to 0$ on ReLU networks (survey section 2.2).",
    ),
    "deeplift": Note(
        "Compare the image with a reference (a black image) and explain the difference of the scores: at every "
        "ReLU the backward pass carries the ratio of output change to input change instead of the slope, so the "
        "attributions add up exactly to f(x) − f(x′).",
        r"m_{\Delta x \Delta y} = \frac{y - y'}{x - x'} \ \text{(Rescale)}, \qquad a_i = (x_i - x'_i)\, "
        r"m_{\Delta x_i \Delta f}, \qquad \sum_i a_i = f(\mathbf{x}) - f(\mathbf{x}')",
        r"$x, y$: a unit's input and output for the image, $x', y'$ for the reference; multipliers chain like "
        r"gradients.",
    ),
    "grad_cam": Note(
        "Look at the last convolutional layer instead of the pixels. Weight each feature map by its average "
        "gradient, add them up, keep the positive part and upsample: a coarse map of where the class evidence is.",
        r"w_k = \frac{1}{HW}\sum_{i,j} \frac{\partial f_c}{\partial A^k_{ij}}, \qquad "
        r"M = \mathrm{ReLU}\!\left(\sum_k w_k A^k\right)",
        r"$A^k$: the $k$-th feature map of the chosen layer.",
    ),
    "grad_cam_pp": Note(
        "Grad-CAM with a weight per location instead of a plain average, built from higher powers of the "
        "gradient; helps when the class appears several times in the image.",
        r"\alpha^k_{ij} = \frac{g_{ij}^2}{2 g_{ij}^2 + \sum_{a,b} A^k_{ab}\, g_{ij}^3} \qquad "
        r"w_k = \sum_{i,j} \alpha^k_{ij}\,\mathrm{ReLU}(g_{ij}) \qquad M = \mathrm{ReLU}\!\left(\sum_k w_k A^k\right)",
        r"$g_{ij} = \partial f_c / \partial A^k_{ij}$.",
    ),
    "smooth_grad_cam_pp": Note(
        "Grad-CAM++ whose gradient powers are averaged over noisy copies of the image before the weights are "
        "formed once, on the clean activations. Not the same as SmoothGrad over Grad-CAM++, which averages whole maps.",
        r"D_p = \tfrac{1}{n}\sum_m g_{ij}(x + \epsilon_m)^p \qquad "
        r"\alpha^k_{ij} = \frac{D_2}{2 D_2 + \sum_{a,b} A^k_{ab}\, D_3} \qquad "
        r"w_k = \sum_{i,j} \alpha^k_{ij}\,\mathrm{ReLU}(D_1)",
        r"$\epsilon_m \sim \mathcal{N}(0, \sigma^2)$, $A$ the activations of the image itself.",
    ),
    "guided_grad_cam": Note(
        "Multiply the sharp but class-blind guided-backprop map with the coarse but class-specific Grad-CAM map, "
        "to get fine detail only where the class is.",
        r"M = M_{\text{guided}} \odot \operatorname{upsample}\!\left(M_{\text{Grad-CAM}}\right)",
    ),
    # --- integrated gradients ---------------------------------------------------------------------------------
    "integrated_gradients": Note(
        "Walk in a straight line from a baseline (black image) to the image and average the gradient along the "
        "way; multiply by how far each pixel moved. The attributions add up to the change of the score.",
        r"a_i = (x_i - x'_i) \int_0^1 \frac{\partial f(\gamma(\alpha))}{\partial x_i}\, d\alpha"
        r"\qquad \approx (x_i - x'_i) \sum_{m} w_m \frac{\partial f(\gamma(\alpha_m))}{\partial x_i}, \qquad " + _PATH,
        r"$\mathbf{x}'$: baseline; $\alpha_m, w_m$: the quadrature nodes and weights (steps).",
    ),
    "blur_ig": Note(
        "No baseline to pick: the path starts from a heavily blurred copy of the image and sharpens it step by "
        "step, adding up gradient times the change that each step of un-blurring makes.",
        r"a = \int_{\sigma_{\max}}^{0} \nabla f\big(L(\mathbf{x}, \sigma)\big) \odot "
        r"\frac{\partial L(\mathbf{x}, \sigma)}{\partial \sigma}\, d\sigma",
        r"$L(\mathbf{x}, \sigma)$: the image blurred by a Gaussian of width $\sigma$.",
    ),
    "expected_gradients": Note(
        "Instead of one baseline, draw many from a set of reference images and a random point on each path; "
        "the average of these one-point IG estimates is IG averaged over baselines.",
        r"a = \mathbb{E}_{\mathbf{x}', \alpha}\left[(\mathbf{x} - \mathbf{x}') \odot "
        r"\nabla f\big(\mathbf{x}' + \alpha(\mathbf{x} - \mathbf{x}')\big)\right]",
        r"$\mathbf{x}' \sim D$, the reference images; $\alpha \sim U(0, 1)$.",
    ),
    "split_ig": Note(
        "Most of the score often appears early on the path and then stays flat (saturation); the flat part only "
        "adds noise. Split IG stops integrating where the score has covered the share phi of its change.",
        r"\alpha^* = \min\left\{\alpha : \frac{f(\gamma(\alpha)) - f(\mathbf{x}')}{f(\mathbf{x}) - f(\mathbf{x}')}"
        r" > \varphi\right\}, \qquad a = (\mathbf{x} - \mathbf{x}') \odot \int_0^{\alpha^*} \nabla f(\gamma(\alpha))"
        r"\, d\alpha",
    ),
    "guided_ig": Note(
        "Choose the path as you go: at each step move only the pixels whose gradient is smallest, so the walk "
        "avoids steep, noisy regions of the model, then add up gradient times movement as IG does.",
        r"a_i = \int_0^1 \frac{\partial f(\gamma(\alpha))}{\partial \gamma_i}\,\frac{d\gamma_i}{d\alpha}\, d\alpha",
        r"$\gamma$: the path, built step by step; each step moves the features with the smallest "
        r"$|\partial f / \partial x_i|$ first.",
    ),
    "idgi": Note(
        "On each small segment of a path, credit the change of the score only along the gradient's direction; "
        "motion across the gradient changes nothing and would only add noise. Sums exactly to the score change.",
        r"a = \sum_m \frac{\mathbf{g}_m \odot \mathbf{g}_m}{\mathbf{g}_m \cdot \mathbf{g}_m}\,"
        r"\big(f(\mathbf{x}_{m+1}) - f(\mathbf{x}_m)\big), \qquad \mathbf{g}_m = \nabla f(\mathbf{x}_m)",
        r"$\mathbf{x}_m$: the nodes of the underlying path (IG, Guided IG or Blur IG).",
    ),
    "agi": Note(
        "No baseline: push the image towards a few other classes by small adversarial steps and add up how the "
        "explained score falls along the way; average over the chosen classes.",
        r"a = \sum_{j \neq c} \int_{\mathbf{x} \to \mathbf{x}^{\text{adv}}_j} -\nabla f_c(\mathbf{x}_t) \odot "
        r"d\mathbf{x}_t, \qquad "
        r"\mathbf{x}_{t+1} = \mathbf{x}_t + \epsilon\, \operatorname{sign}\nabla p_j(\mathbf{x}_t)",
        r"$p_j$: softmax probability of the other class $j$.",
    ),
    "big": Note(
        "Use the closest image that the model classifies differently (found by an adversarial attack) as the "
        "baseline of IG: the path then crosses the decision boundary that matters for this image.",
        r"a = \mathrm{IG}(\mathbf{x};\ \mathbf{x}' = \mathbf{x}^{\text{adv}}), \qquad "
        r"\mathbf{x}^{\text{adv}} = \arg\min_{F(\mathbf{z}) \neq F(\mathbf{x})} \lVert \mathbf{z} - \mathbf{x} \rVert",
    ),
    "bsm": Note(
        "Take the gradient not at the image but at the nearest point across the decision boundary: there it "
        "points along the boundary's normal, which describes the decision better than the local slope.",
        r"M = \nabla f_c\big(\mathbf{x}^{\text{adv}}\big)",
    ),
    "neflag": Note(
        "Look at the gradient field on a small sphere around the image and keep only the directions in which "
        "the score decreases (negative flux); their average says which features the prediction depends on.",
        r"a = -\frac{1}{n}\sum_{s=1}^{n} \mathbf{1}\!\left[\mathbf{F}(\tilde{\mathbf{x}}_s)\cdot\mathbf{u}_s < 0\right]"
        r"\mathbf{F}(\tilde{\mathbf{x}}_s) \odot \mathbf{u}_s, \qquad "
        r"\tilde{\mathbf{x}}_s = \mathbf{x} + \epsilon\,\mathbf{u}_s",
        r"$\mathbf{F} = \nabla f$; $\mathbf{u}_s$: unit directions, moved towards falling scores.",
    ),
    "idg": Note(
        "Attribute to groups of pixels (nested superpixels) rather than single pixels: integrate the gradient "
        "along the direction in which the whole group moves, then share the credit up the tree of groups.",
        r"\mathrm{IDG}(S) = \int_0^1 \nabla f(\gamma(\alpha)) \cdot \frac{\mathbf{z}_S}{\lVert \mathbf{z}_S \rVert}"
        r"\, d\alpha, \qquad d(S) = \frac{|\mathrm{IDG}(S)|}{\sum_{T} |\mathrm{IDG}(T)|}, \qquad "
        r"v(S) = \sum_{T \subseteq S} d(T)",
        r"$\mathbf{z}_S$: $\mathbf{x} - \mathbf{x}'$ on the group $S$, zero elsewhere.",
    ),
    "integrated_hessians": Note(
        "Explain interactions, not single features: apply IG to IG itself, which integrates second derivatives "
        "along the path and says how much two regions act together.",
        r"\Gamma_{ij} = (x_i - x'_i)(x_j - x'_j)\, I_{ij} \quad (i \neq j) \qquad I_{ij} = \int_0^1\!\!\int_0^1 "
        r"\alpha\beta\, \frac{\partial^2 f\big(\mathbf{x}' + \alpha\beta(\mathbf{x} - \mathbf{x}')\big)}"
        r"{\partial x_i\, \partial x_j}\, d\alpha\, d\beta",
    ),
    # --- bias gradients ----------------------------------------------------------------------------------------
    "fullgrad": Note(
        "For a ReLU network the score splits exactly into an input part and one part per bias term. FullGrad maps "
        "both: input times gradient plus every layer's bias times its gradient, each made positive and upsampled.",
        r"f(\mathbf{x}) = \nabla_{\mathbf{x}} f \cdot \mathbf{x} + \sum_l \nabla_{\mathbf{b}_l} f \cdot \mathbf{b}_l,"
        r"\qquad M = \psi\big(\nabla_{\mathbf{x}} f \odot \mathbf{x}\big) + \sum_l \sum_{\text{ch}}"
        r" \psi\big(\nabla_{\mathbf{b}_l} f \odot \mathbf{b}_l\big)",
        r"$\psi$: absolute value, rescaling to [0, 1] and upsampling to the image size.",
    ),
    # --- post-processing ---------------------------------------------------------------------------------------
    "smoothgrad": Note(
        "Gradients flicker from pixel to pixel. Add a little Gaussian noise to the image many times and average "
        "the maps: the flicker averages out, the stable structure stays. Works over any method.",
        r"\hat{M}(\mathbf{x}) = \frac{1}{n}\sum_{s=1}^{n} M(\mathbf{x} + \boldsymbol{\delta}_s), \qquad "
        r"\boldsymbol{\delta}_s \sim \mathcal{N}(0, \sigma^2)",
        r"$\sigma$: the noise level times the image's value range.",
    ),
    "smoothgrad_squared": Note(
        "Like SmoothGrad, but square each noisy map before averaging: only the magnitude counts, so evidence for "
        "and against the class no longer cancel, and strong regions stand out more.",
        r"\hat{M}^2(\mathbf{x}) = \frac{1}{n}\sum_{s=1}^{n} M(\mathbf{x} + \boldsymbol{\delta}_s)^{\odot 2}",
    ),
    "vargrad": Note(
        "Same noisy copies as SmoothGrad, but keep the variance of the maps instead of their mean: where does "
        "the explanation change most under small perturbations?",
        r"\tilde{M}(\mathbf{x}) = \frac{1}{n}\sum_{s=1}^{n} \big(M(\mathbf{x} + \boldsymbol{\delta}_s) - "
        r"\hat{M}(\mathbf{x})\big)^2",
    ),
}

# Section 2.1 of the survey: the properties a method is asked to have (checked on the Axioms & robustness page).
AXIOMS = {
    "Completeness": (
        "The attributions add up to the change of the score between the baseline and the image.",
        r"\sum_i a_i = f(\mathbf{x}) - f(\mathbf{x}')",
    ),
    "Sensitivity": (
        "A feature the model ignores gets nothing; a feature whose change alters the score gets something.",
        r"\frac{\partial f}{\partial x_i} \equiv 0 \;\Rightarrow\; a_i = 0",
    ),
    "Implementation invariance": (
        "Two networks that compute the same function get the same attributions.",
        r"f_1 \equiv f_2 \;\Rightarrow\; g(f_1, \mathbf{x}) = g(f_2, \mathbf{x})",
    ),
    "Linearity": (
        "The attribution of a weighted sum of models is the weighted sum of their attributions.",
        r"g(w_1 f_1 + w_2 f_2, \mathbf{x}) = w_1 g(f_1, \mathbf{x}) + w_2 g(f_2, \mathbf{x})",
    ),
    "Symmetry preservation": (
        "Features the model treats alike, with equal values in the image and the baseline, get equal credit.",
        r"x_i = x_j,\ x'_i = x'_j,\ f \text{ symmetric in } i, j \;\Rightarrow\; a_i = a_j",
    ),
}

# Section 3 of the survey: how explanations are evaluated.
EVALUATION = {
    "Human evaluation": "People rate maps or answer questions after seeing them: costly and hard to reproduce.",
    "Localization": "Does the map's peak or energy fall inside the annotated object (pointing game, boxes)?",
    "Ablation (faithfulness)": "Delete or insert pixels in the map's order and watch the score fall or rise.",
    "Randomization": "Randomize the model's weights or the labels: a faithful map must change.",
}


# The Sanity checks page's guide (Adebayo et al. 2018).
SANITY_PAPER = "https://arxiv.org/abs/1810.03292"
SANITY_GUIDE = f"""
**What the checks ask.** A saliency map should depend on what the model learned. If you destroy the model or the
data it learned from and the map hardly changes, the map was never telling you about the model.

**Model randomization.** The weights are re-initialised from the logits down: *cascading* keeps the layers above
randomised as it goes deeper, *independent* randomises one layer at a time with the rest trained. Each thumbnail's
ρ is the Spearman rank correlation of |map| with the trained model's map.
- *Passing*: the maps turn into noise or into something unrelated once the top layers are random, and the curves
  fall towards 0 and stay there.
- *Failing*: the maps keep the object's edges and the curves stay high even with most of the network random. The
  method is then mostly showing the image, not the model.

**Data randomization.** The same small CNN is trained on the digits with true labels and with shuffled labels,
which it can only memorise (high training accuracy, chance on the test set). *Passing*: the two models' maps differ
(low ρ). *Failing*: they look alike, so the map does not reflect what the labels taught the model.

**What the paper found.** Plain gradients and Grad-CAM pass both tests. Guided backprop and guided Grad-CAM stay
almost unchanged under randomization: they behave like edge detectors, and an edge detector applied to the image
gives similar pictures without any model. Methods that multiply by the input (input × gradient, integrated
gradients) keep some of the image's structure for the same reason, so their maps change less than the plain
gradient's. Similarity numbers are a guide, not a verdict: look at the maps too.

Adebayo et al., *Sanity Checks for Saliency Maps*, NeurIPS 2018: [{SANITY_PAPER}]({SANITY_PAPER})
"""
