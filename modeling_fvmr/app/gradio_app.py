"""`fvmr app`: a Gradio web app over a moment index.

Type a query and search one chosen video or the whole corpus. The top moments come as a ranked list;
the timeline of the selected moment's video (the best top moment's at first, any row of the list when
clicked) plots the score of the best proposal covering each instant, the top moments and the ground
truth the index holds (`modeling_fvmr.app.plots`). When the video file is known (`videos.json` of an
index built from video files, or `--videos DIR`), a player plays the selected moment, cut from the file
as `fvmr search --cut` does; otherwise the timeline is shown alone.

The search is also a named API endpoint, `search(query, video, top_k)` (`gradio_client.Client(url)
.predict(query, "All videos", 5, api_name="/search")`), returning the JSON of `fvmr search --json`.

The app makes no network call: Gradio's analytics and version check are off (GRADIO_ANALYTICS_ENABLED=
False is set before Gradio is imported), it serves on the host given (127.0.0.1 by default) without a
share link, server-side rendering is off (no Node process), and the default theme's fonts ship with
Gradio.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..search import MomentIndex, search_json
from .plots import timeline_figure

if TYPE_CHECKING:
    import gradio

ALL_VIDEOS = "All videos"
MAX_TOP_K = 50
TABLE_HEADERS = ["rank", "video", "start (s)", "end (s)", "score"]


def import_gradio():
    """gradio, imported with its analytics / version check off; ImportError with the install hint."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ImportError as error:
        raise ImportError('The app needs Gradio: pip install "fvmr[app]".') from error
    return gradio


def load_index(model: str, index_dir: str | None = None, videos_dir: str | None = None) -> tuple[MomentIndex, dict[str, str]]:
    """The app's index and video files (video id -> path).

    Args:
        model: folder or Hub id of a saved FVMR model with its processor.
        index_dir: a folder written by `fvmr index` (refused, with the reason, when another model built it).
            Without it the index is built at start from the video files of `videos_dir`.
        videos_dir: folder of the source videos (`<video_id>.*`), for the player.
    """
    from ..loading import load_model_and_processor
    from ..video import index_video_files, read_video_sources

    if index_dir is None and videos_dir is None:
        raise ValueError("Give an index (--index DIR, from `fvmr index`) or a folder of video files to index at start (--videos DIR).")
    fvmr_model, processor = load_model_and_processor(model)
    if index_dir is not None:
        index = MomentIndex.load(index_dir, fvmr_model, processor)
        return index, read_video_sources(index_dir, videos_dir)
    index = MomentIndex(fvmr_model, processor, model_path=model)
    skipped: dict[str, str] = {}
    sources = index_video_files(index, [videos_dir], skipped=skipped)
    if not sources:
        raise ValueError(f"No video of {videos_dir} could be read: {next(iter(skipped.values()), 'none found')}")
    return index, sources


class MomentSearchApp:
    """The app's logic over one index, independent of Gradio's widgets (see [`build_app`]).

    Args:
        index: the moment index (with its processor). sources: video id -> video file, for the player.
        clip_dir: where the player's clips are cut (default: a new temporary folder).
    """

    def __init__(self, index: MomentIndex, sources: dict[str, str] | None = None, clip_dir: str | None = None):
        self.index = index
        self.sources = dict(sources or {})
        self.clip_dir = Path(clip_dir or tempfile.mkdtemp(prefix="fvmr-app-clips-"))

    def search(self, query: str, video: str | None = ALL_VIDEOS, top_k: int = 5) -> list[dict]:
        """The JSON of `fvmr search --json` for one query; ValueError with the reason for bad input."""
        query = (query or "").strip()
        if not query:
            raise ValueError("Type a query: a sentence describing the moment, e.g. 'a person opens the door'.")
        video_id = None if video in (None, "", ALL_VIDEOS) else str(video)
        if video_id is not None and video_id not in self.index:
            raise ValueError(f"Unknown video {video_id!r}: the index holds {len(self.index)} videos, e.g. {self.index.video_ids[:3]}.")
        if isinstance(top_k, float) and top_k.is_integer():
            top_k = int(top_k)
        if not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise ValueError(f"top_k must be a whole number from 1 to {MAX_TOP_K}, got {top_k!r}.")
        return search_json(self.index, [query], top_k=top_k, video_id=video_id)

    def table(self, payload: list[dict]) -> list[list]:
        """The ranked list: one row [rank, video, start s, end s, score] per moment."""
        return [
            [rank, m["video_id"], round(m["start"], 2), round(m["end"], 2), round(m["score"], 4)]
            for rank, m in enumerate(payload[0]["moments"], 1)
        ]

    def show(self, payload: list[dict], row: int = 0) -> tuple[Any, str | None, str]:
        """The timeline figure of the video of moment `row` (0-based), the clip of that moment (None
        when its video file is unknown) and a Markdown line describing the selection."""
        entry = payload[0]
        if not entry["moments"]:
            return None, None, "No moment found."
        moment = entry["moments"][row]
        video_id = moment["video_id"]
        figure = timeline_figure(self.index, entry["query"], video_id, entry["moments"])
        line = f"**#{row + 1}**: `{video_id}` from {moment['start']:.2f} s to {moment['end']:.2f} s (score {moment['score']:.3f})."
        if entry.get("unknown_query"):
            line = f"**No word of “{entry['query']}” is in the model's vocabulary: these moments mean nothing.** " + line
        truth = self.index.ground_truth.get(video_id, [])
        if truth:
            line += " Annotated in this video: " + "; ".join(f"“{t.sentence}” {t.start:.2f}–{t.end:.2f} s" for t in truth) + "."
        if video_id not in self.sources:
            return figure, None, line + " No video file is known for this video (index video files, or start the app with --videos DIR): the timeline alone."
        from ..video import write_clip

        clip, _ = write_clip(self.sources[video_id], moment["start"], moment["end"], self.clip_dir, video_id=video_id, overwrite=True)
        return figure, str(clip), line


def build_app(app: MomentSearchApp, title: str = "FVMR: find the moment") -> gradio.Blocks:
    """The Gradio Blocks of [`MomentSearchApp`]: query, video choice, top k, the ranked list, the
    timeline, the player, and the `search` API endpoint (the JSON of `fvmr search --json`)."""
    gr = import_gradio()

    def search(query: str, video: str, top_k: float) -> list[dict]:
        try:
            return app.search(query, video, top_k)
        except ValueError as error:
            raise gr.Error(str(error)) from None

    def show(payload: list[dict] | None, row: int = 0):
        if not payload:
            return [], None, None, ""
        figure, clip, line = app.show(payload, row)
        return app.table(payload), figure, clip, line

    def select(payload: list[dict] | None, event):
        return show(payload, event.index[0])[1:]

    select.__annotations__["event"] = gr.SelectData  # Gradio passes the clicked cell to this parameter

    index = app.index
    with gr.Blocks(title=title) as blocks:
        gr.Markdown(
            f"## {title}\nSearch {len(index)} videos ({len(index.embeddings)} moments) by text. "
            "The timeline shows, along the selected video, the score of the best proposal covering each instant "
            "(the student's logit p), the top moments (shaded, numbered by rank) and the ground truth (green band) "
            "when the index has it. Click a row of the list to see its video and play its moment."
        )
        with gr.Row():
            query = gr.Textbox(label="Query", placeholder="a person opens the door", scale=4, elem_id="query")
            video = gr.Dropdown([ALL_VIDEOS, *index.video_ids], value=ALL_VIDEOS, label="Video", allow_custom_value=True,
                                scale=2, elem_id="video")  # fmt: skip
            top_k = gr.Slider(1, MAX_TOP_K, value=5, step=1, label="Top k", scale=2, elem_id="top-k")
            button = gr.Button("Search", variant="primary", scale=1, elem_id="search-button")
        table = gr.Dataframe(headers=TABLE_HEADERS, label="Top moments (click a row)", interactive=False, elem_id="results")
        selection = gr.Markdown(elem_id="selection")
        with gr.Row():
            timeline = gr.Plot(label="Timeline", show_label=False, format="png", elem_id="timeline", scale=3)
            player = gr.Video(label="The selected moment", interactive=False, autoplay=True, height=300, elem_id="player", scale=2)
        with gr.Accordion("JSON (as `fvmr search --json`)", open=False):
            results = gr.JSON(label="results", elem_id="json")
        button.click(search, [query, video, top_k], results, api_name="search").then(
            show, results, [table, timeline, player, selection], api_visibility="private"
        )
        query.submit(search, [query, video, top_k], results, api_visibility="private").then(
            show, results, [table, timeline, player, selection], api_visibility="private"
        )
        table.select(select, results, [timeline, player, selection], api_visibility="private")
    return blocks


def launch(blocks: gradio.Blocks, host: str = "127.0.0.1", port: int | None = None, block: bool = True):
    """Serve the app on host:port (a free port from 7860 when None), with no share link and no call out;
    `block=False` returns at once (tests; `blocks.close()` stops it)."""
    return blocks.launch(
        server_name=host, server_port=port, share=False, show_error=True, ssr_mode=False, prevent_thread_lock=not block,
        inbrowser=False, quiet=not block,
    )


__all__ = ["ALL_VIDEOS", "MomentSearchApp", "build_app", "import_gradio", "launch", "load_index"]
