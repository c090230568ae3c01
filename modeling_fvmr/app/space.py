"""`fvmr app MODEL --export DIR`: a folder that runs the app in a Hugging Face Space (or anywhere
with `python app.py`).

The folder holds `app.py` (loads MODEL, a Hub model id, and serves the app on 0.0.0.0:7860 as Spaces
expect), `requirements.txt`, a `README.md` with the Space's front matter, and the search data:
- `index/`: the index given with `--index`, shipped alongside (its embeddings, spans, ground truth and
  ANN; not its `videos.json`, whose paths are local). The model must be the one that built it: the
  app refuses another one at start.
- `videos/`: the video files of `--videos DIR`, copied. With an index they feed the player; without
  one, the app builds its index from them at start (features made with the model's recorded recipe).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .. import __version__
from ..atomic import atomic_folder
from ..search.index import ANN_FILE_NAME, INDEX_METADATA_NAME, INDEX_TENSORS_NAME, MomentIndex

APP_TEMPLATE = '''"""FVMR moment search in a Hugging Face Space (written by `fvmr app --export`).

Model: {model} (a Hub model id, downloaded at start).
Index: {index_note}
"""

from pathlib import Path

from modeling_fvmr.app.gradio_app import MomentSearchApp, build_app, launch, load_index

MODEL_ID = {model!r}
HERE = Path(__file__).resolve().parent
INDEX = HERE / "index"  # shipped alongside, when present
VIDEOS = HERE / "videos"  # the video files: the player's, and the index's source when no index is shipped

index, sources = load_index(MODEL_ID, str(INDEX) if INDEX.is_dir() else None, str(VIDEOS) if VIDEOS.is_dir() else None)
demo = build_app(MomentSearchApp(index, sources))

if __name__ == "__main__":
    launch(demo, host="0.0.0.0", port=7860)
'''

README_TEMPLATE = """---
title: FVMR moment search
emoji: 🎞️
sdk: gradio
sdk_version: {gradio_version}
app_file: app.py
pinned: false
---

# FVMR moment search

Type a sentence, get the moments of the videos it describes: a ranked list, a timeline of the scores
along the video, and a player for the selected moment.

- Model: [{model}](https://huggingface.co/{model}) (loaded from the Hub at start).
- Index: {index_note}

Written by `fvmr app {model} --export` (fvmr {fvmr_version}). Run it locally with
`pip install -r requirements.txt && python app.py`; publish it by uploading this folder to a new
Space (SDK: Gradio), e.g. `hf upload --repo-type space USER/NAME .`.
"""

REQUIREMENTS = """# fvmr with its app extra (Gradio, matplotlib); torch comes with it. Where fvmr is not on your
# package index, replace the line with the source you install it from (e.g. a git URL).
fvmr[app]=={fvmr_version}
"""


def export_space(
    model: str, output_dir: str | os.PathLike, index_dir: str | None = None, videos_dir: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the Space folder (see the module docstring) and return its path.

    Args:
        model: the Hub model id the app loads (a local folder works for a local run only).
        index_dir: a folder written by `fvmr index` with that model, shipped as `index/`.
        videos_dir: video files copied to `videos/` (the player; the index's source without `index_dir`).
        overwrite: replace an existing output folder.
    """
    from .gradio_app import import_gradio
    from ..video import find_videos

    if index_dir is None and videos_dir is None:
        raise ValueError("Give --index DIR (shipped with the app) and / or --videos DIR (copied; indexed at start without --index).")
    if index_dir is not None:
        metadata = MomentIndex.read_metadata(index_dir)
        index_note = (f"shipped alongside in `index/` ({len(metadata['video_ids'])} videos, built with this model by "
                      "`fvmr index`; the app refuses another model at start).")  # fmt: skip
    else:
        index_note = "built at start from the video files in `videos/`, with the model's recorded feature recipe."
    videos = find_videos([videos_dir]) if videos_dir is not None else []
    with atomic_folder(output_dir, overwrite=overwrite) as staging:
        if index_dir is not None:
            (staging / "index").mkdir()
            for name in (INDEX_TENSORS_NAME, INDEX_METADATA_NAME, ANN_FILE_NAME):
                if (Path(index_dir) / name).is_file():
                    shutil.copy2(Path(index_dir) / name, staging / "index" / name)
        if videos:
            (staging / "videos").mkdir()
            for video in videos:
                shutil.copy2(video, staging / "videos" / video.name)
        (staging / "app.py").write_text(APP_TEMPLATE.format(model=model, index_note=index_note), encoding="utf-8")
        (staging / "requirements.txt").write_text(REQUIREMENTS.format(fvmr_version=__version__), encoding="utf-8")
        readme = README_TEMPLATE.format(model=model, index_note=index_note, fvmr_version=__version__,
                                        gradio_version=import_gradio().__version__)  # fmt: skip
        (staging / "README.md").write_text(readme, encoding="utf-8")
    return Path(output_dir)


__all__ = ["export_space"]
