"""``xforge serve``: a web page (Gradio) and an HTTP API over one :class:`~xforge.inference.Detector`.

Modules: :mod:`.limits` (what an upload may be), :mod:`.service` (the engine behind a bounded queue, shared by
page and API), :mod:`.api` (``POST /api/analyze``), :mod:`.ui` (the page), :mod:`.app` (both on one server).
Nothing here is imported by the other commands, so the web stack never slows them down.
"""
