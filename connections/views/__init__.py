"""Views, one module per feature: parse the input, call one function, render.

Permission checks live here; HTML lives in the templates."""
