"""See the moments: the `fvmr app` web app (`gradio_app`), its timeline and recall figures (`plots`,
also behind `fvmr search --plot` / `fvmr evaluate --plot`) and the Space-ready folder (`space`).

Gradio and matplotlib are the `app` extra (`pip install "fvmr[app]"`); they are imported when used.
"""
