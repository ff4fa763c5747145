"""The web page: drop an image, read the verdict, look at the marked region, ask follow-up questions.

Each browser tab holds its own :class:`~xforge.inference.ChatSession` in a ``gr.State``: the image's
features are computed once, when it is dropped, and every follow-up reuses them (as ``xforge chat`` does).
The page's downloads are the mask PNG that ``xforge detect`` would write and the answer as JSON (the
predictions record plus the conversation).
"""

from __future__ import annotations

import html
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from xforge.atomic import atomic_write
from xforge.inference import DEFAULT_QUESTION, AnalysisResult, ChatSession
from xforge.inference.inputs import ImageInput
from xforge.inference.overlay import make_overlay
from xforge.predictions import encode_mask_png, mask_relpath, prediction_record
from xforge.serve.limits import UploadRejected, check_upload, client_name
from xforge.serve.service import Busy, Service

logger = logging.getLogger(__name__)

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"
VIEWS = ("overlay", "mask", "original")
DEFAULT_ALPHA = 0.45
# Pictures go to the browser at most this large; the analysis and the downloads keep the full size.
DISPLAY_MAX_SIDE = 1280
FOLLOW_UPS = ("Where exactly?", "Why do you think so?", "What kind of edit is it?", "How sure are you?")
SESSION_TTL_S = 1800

CSS = """
.xf-verdict {border-radius: 10px; padding: 14px 18px; border: 1px solid var(--border-color-primary);}
.xf-verdict.xf-tampered {background: #fdecec; border-color: #e5484d;}
.xf-verdict.xf-authentic {background: #e9f7ef; border-color: #30a46c;}
.xf-verdict.xf-empty {background: var(--block-background-fill);}
.xf-head {font-size: 1.5em; font-weight: 700; margin: 0 0 4px 0;}
.xf-tampered .xf-head {color: #b4232a;}
.xf-authentic .xf-head {color: #18794e;}
.xf-line {margin: 2px 0; color: #333;}
.xf-engine {font-size: 0.92em; color: #4b5563; margin-top: 6px;}
.xf-note {font-size: 0.9em; color: var(--body-text-color-subdued);}
footer {display: none !important;}
"""


@dataclass
class PageState:
    """One tab's conversation and the folder its downloads are written to."""

    session: ChatSession | None = None
    name: str = ""
    folder: Path | None = None
    turns: list[tuple[str, AnalysisResult]] = field(default_factory=list)

    @property
    def result(self) -> AnalysisResult | None:
        """The answer whose mask is on show: the latest one."""
        return self.turns[-1][1] if self.turns else None


def _drop_state(state: PageState | None) -> None:
    """Gradio calls this when a tab's state expires or the tab closes: its files go too."""
    if state is not None and state.folder is not None:
        shutil.rmtree(state.folder, ignore_errors=True)


def _display(array: np.ndarray) -> np.ndarray:
    import cv2

    h, w = array.shape[:2]
    scale = DISPLAY_MAX_SIDE / max(h, w)
    if scale >= 1:
        return array
    return cv2.resize(array, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def render_view(image: ImageInput, result: AnalysisResult, view: str, alpha: float) -> np.ndarray:
    """What the viewer shows: the overlay (mask tinted red, outlined yellow), the probability map, or the image."""
    if view == "original":
        return _display(image.array)
    if view == "mask":
        prob = np.clip(result.prob_map * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return _display(np.repeat(prob[:, :, None], 3, axis=2))
    return _display(make_overlay(image.array, result.mask, alpha=float(alpha)))


def verdict_html(result: AnalysisResult | None, engine_description: str, note: str = "") -> str:
    """The verdict card: verdict word, score, region summary and which engine answered."""
    engine = f'<div class="xf-engine">engine: {html.escape(engine_description)}</div>'
    if result is None:
        text = note or "Drop or paste an image, or pick an example, to see whether it was edited and where."
        return f'<div class="xf-verdict xf-empty" id="xf-verdict"><p class="xf-line">{html.escape(text)}</p>{engine}</div>'
    w, h = result.size
    share = 100.0 * float(result.mask.sum()) / max(1, w * h)
    n = len(result.regions or [])
    regions = (
        "no region marked"
        if n == 0
        else f"{n} region{'s' if n != 1 else ''} marked, {share:.1f}% of the image"
    )
    head = "Edited" if result.verdict == "tampered" else "No edit found"
    lines = [
        f'<p class="xf-head">{head}</p>',
        f'<p class="xf-line">verdict: <b>{result.verdict}</b> &nbsp; score: <b>{result.score:.2f}</b> '
        "(probability that the image is edited; the verdict threshold is 0.5)</p>",
        f'<p class="xf-line">{regions} &middot; {w}&times;{h} px</p>',
    ]
    if result.downscaled:
        lines.append('<p class="xf-line">analysed downscaled; the mask is returned at full size</p>')
    return f'<div class="xf-verdict xf-{result.verdict}" id="xf-verdict">{"".join(lines)}{engine}</div>'


def evidence_markdown(result: AnalysisResult | None) -> str:
    """The evidence lines: each classical cue's share of the decision and what it measured."""
    if result is None:
        return ""
    if result.engine != "classical":
        return "**Evidence.** The trained model answers from the whole image; it reports no separate cues."
    if result.evidence.get("too_small"):
        return "**Evidence.** The image is too small for the cues to be measured."
    from xforge.inference.classical_answers import cue_lines

    lines = cue_lines(result.evidence)
    head = (
        f"**Evidence.** The verdict fuses {len(lines)} cues; each line gives the cue's share of the decision "
        "(log-odds; cues adding at least 1.0 count as evidence) and what it measured:"
    )
    return "\n".join([head, "", *(f"- {line}" for line in lines)])


def answer_record(state: PageState, engine_description: str) -> dict[str, Any]:
    """The JSON download: the predictions record of the first answer plus the whole conversation."""
    first = state.turns[0][1]
    sample_id = Path(state.name).stem or "image"
    return {
        "record": prediction_record(sample_id, state.name, first, mask_relpath(sample_id)),
        "engine_description": engine_description,
        "conversation": [
            {"question": q, "answer": r.explanation, "verdict": r.verdict, "score": round(r.score, 6)}
            for q, r in state.turns
        ],
    }


def _write_downloads(state: PageState, engine_description: str) -> tuple[str, str]:
    stem = Path(state.name).stem or "image"
    mask_path = state.folder / f"{stem}_mask.png"
    json_path = state.folder / f"{stem}_answer.json"
    # Atomic, like detect's outputs: a download never serves a half-written file.
    atomic_write(mask_path, encode_mask_png(state.result.prob_map))
    atomic_write(
        json_path, json.dumps(answer_record(state, engine_description), indent=2, ensure_ascii=False) + "\n"
    )
    return str(mask_path), str(json_path)


def _chat_messages(state: PageState) -> list[dict[str, str]]:
    messages = []
    for question, result in state.turns:
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": result.explanation})
    return messages


def build_page(service: Service) -> gr.Blocks:
    """The Gradio Blocks of the page, wired to ``service``."""
    describe = service.describe()
    limits = service.settings.limits
    formats = ", ".join(limits.describe()["formats"])
    examples = sorted(str(p) for p in EXAMPLES_DIR.glob("*.jpg"))

    def empty_outputs(state: PageState, note: str = ""):
        return (
            state,
            verdict_html(None, describe, note),
            None,
            "",
            "",
            [],
            gr.update(value=None, interactive=False),
            gr.update(value=None, interactive=False),
        )

    def analyse(path: str | None, view: str, alpha: float, state: PageState | None):
        _drop_state(state)
        state = PageState()
        if not path:
            return empty_outputs(state)
        name = client_name(path)
        try:
            image = check_upload(path, name, limits)
            with service.gate.turn():
                session = service.detector.chat(image)
                result = session.ask(DEFAULT_QUESTION)
        except (UploadRejected, Busy) as exc:
            raise gr.Error(str(exc), duration=None, print_exception=False) from None
        state = PageState(session=session, name=name, folder=service.temp_dir("ui"))
        state.turns.append((DEFAULT_QUESTION, result))
        mask_file, json_file = _write_downloads(state, describe)
        return (
            state,
            verdict_html(result, describe),
            render_view(session.image, result, view, alpha),
            result.explanation,
            evidence_markdown(result),
            _chat_messages(state),
            gr.update(value=mask_file, interactive=True),
            gr.update(value=json_file, interactive=True),
        )

    def redraw(view: str, alpha: float, state: PageState | None):
        if state is None or state.result is None:
            return None
        return render_view(state.session.image, state.result, view, alpha)

    def ask(question: str, view: str, alpha: float, state: PageState | None):
        question = (question or "").strip()
        if state is None or state.session is None:
            raise gr.Error("Drop an image first; questions are about the image on show.")
        if not question:
            return gr.update(), state, gr.update(), gr.update(), gr.update(), gr.update()
        try:
            with service.gate.turn():
                result = state.session.ask(question)
        except Busy as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        state.turns.append((question, result))
        mask_file, json_file = _write_downloads(state, describe)
        return (
            "",
            state,
            _chat_messages(state),
            render_view(state.session.image, result, view, alpha),
            gr.update(value=mask_file),
            gr.update(value=json_file),
        )

    with gr.Blocks(
        title="xforge: is this image edited?", analytics_enabled=False, delete_cache=(600, 1800)
    ) as page:
        state = gr.State(PageState(), time_to_live=SESSION_TTL_S, delete_callback=_drop_state)
        gr.Markdown(
            "# xforge: is this image edited, and where?\n"
            "Drop or paste an image. xforge answers with a verdict, a score, a mask of the edited region and "
            "an explanation grounded in it; then ask follow-up questions."
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                image_in = gr.Image(
                    label="Image",
                    type="filepath",
                    image_mode=None,  # keep the uploaded file as it is: the JPEG cues read its bytes
                    sources=["upload", "clipboard"],
                    height=340,
                    elem_id="xf-input",
                )
                gr.Examples(examples=examples, inputs=image_in, label="Shipped examples")
                gr.HTML(
                    f'<p class="xf-note">Accepted: {formats}; at most {limits.max_bytes / 2**20:.0f} MB and '
                    f"{limits.max_pixels / 1e6:.0f} megapixels. Uploads and results stay on this server, in "
                    "its temporary folder, and are deleted within the hour and when it stops.</p>"
                )
                chat = gr.Chatbot(label="Conversation", height=340, elem_id="xf-chat", feedback_options=None)
                with gr.Row():
                    question = gr.Textbox(
                        placeholder="Ask a follow-up, e.g. Where exactly?",
                        show_label=False,
                        scale=4,
                        elem_id="xf-question",
                        submit_btn=False,
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="xf-ask")
                quick = []
                for pair in (FOLLOW_UPS[:2], FOLLOW_UPS[2:]):
                    with gr.Row():
                        quick += [gr.Button(q, size="sm") for q in pair]
            with gr.Column(scale=7):
                verdict = gr.HTML(verdict_html(None, describe), elem_id="xf-verdict-box")
                with gr.Row():
                    view = gr.Radio(list(VIEWS), value="overlay", label="Show", scale=3, elem_id="xf-show")
                    alpha = gr.Slider(0.0, 1.0, value=DEFAULT_ALPHA, step=0.05, label="Mask opacity", scale=2)
                shown = gr.Image(
                    label="Marked region",
                    format="png",
                    interactive=False,
                    height=440,
                    elem_id="xf-view",
                    buttons=["fullscreen"],
                )
                with gr.Row():
                    mask_dl = gr.DownloadButton(
                        "Mask PNG", interactive=False, size="md", elem_id="xf-mask-dl"
                    )
                    json_dl = gr.DownloadButton(
                        "Answer JSON", interactive=False, size="md", elem_id="xf-json-dl"
                    )
                explanation = gr.Textbox(
                    label="Explanation", lines=4, interactive=False, elem_id="xf-explanation"
                )
                evidence = gr.Markdown(elem_id="xf-evidence")

        analysis_outputs = [state, verdict, shown, explanation, evidence, chat, mask_dl, json_dl]
        image_in.change(analyse, [image_in, view, alpha, state], analysis_outputs, api_visibility="private")
        for control in (view, alpha):
            control.change(redraw, [view, alpha, state], shown, api_visibility="private", queue=False)
        ask_outputs = [question, state, chat, shown, mask_dl, json_dl]
        send.click(ask, [question, view, alpha, state], ask_outputs, api_visibility="private")
        question.submit(ask, [question, view, alpha, state], ask_outputs, api_visibility="private")
        for button in quick:
            button.click(ask, [button, view, alpha, state], ask_outputs, api_visibility="private")
    page.queue(default_concurrency_limit=service.settings.concurrency, max_size=service.settings.max_queue)
    return page
