"""UI helpers shared by the pages (never pages themselves): state keys, caching, forms, overlays, sidebar."""
