# facesense in a container: the web app by default, any facesense command on request.
#
#   docker build -t facesense .                               # serving image: ONNX Runtime, no PyTorch
#   docker run -p 8000:8000 facesense                         # http://127.0.0.1:8000/
#   docker run --rm -v "$PWD/out:/work" --user "$(id -u):$(id -g)" facesense demo
#   docker build --target train -t facesense:train .          # larger: adds CPU PyTorch for training
#
# The base is a build argument so that any Debian bookworm image with or without Python works:
# python:3.11-slim-bookworm by default; a bare Debian (debootstrap minbase) gets Debian's python3.
ARG BASE=python:3.11-slim-bookworm

# ---- python: the base plus a Python 3 that has venv (python:*-slim has one already) ----------
FROM ${BASE} AS python
ARG DEBIAN_FRONTEND=noninteractive
RUN if ! python3 -c "import venv, ensurepip" 2>/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3 python3-venv \
        && apt-get clean && rm -rf /var/lib/apt/lists/*; \
    fi

# ---- build: a virtual environment with facesense and its inference dependencies --------------
FROM python AS build
ENV PATH=/opt/facesense/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/facesense
WORKDIR /src
# dependencies first, from pyproject.toml alone, so a source change does not reinstall them
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install -r requirements.txt \
    && python -c "import importlib.util as u, sys; sys.exit('a dependency pulled PyTorch into the serving image' if u.find_spec('torch') else 0)"
COPY LICENSE THIRD_PARTY_NOTICES.md ./
COPY src ./src
RUN pip install --no-deps . && facesense --help > /dev/null

# ---- build-train: the same plus PyTorch (CPU build) and the training extra -------------------
FROM build AS build-train
# PyPI's default torch wheel is the multi-GB CUDA build; the CPU index has the ~750 MB one.
# Empty TORCH_INDEX_URL: take torch from the configured index only.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0
RUN pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} "torch==${TORCH_VERSION}" \
    && python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project'].get('optional-dependencies', {}).get('train', [])))" > train-requirements.txt \
    && pip install -r train-requirements.txt

# ---- build-serve: what serving needs of that environment --------------------------------------
# the libraries' own test suites (about 70 MB: scipy, numpy, scikit-learn, matplotlib), the
# installers (pip, setuptools) and the shipped models' PyTorch checkpoints (.pt, 18 MB: only
# PyTorch reads them; the image runs their ONNX copies) stay out of the serving image, and the
# compiled libraries lose their symbol tables (about 20 MB; binutils stays in this stage). The
# libraries that wheels vendor in *.libs folders are left alone: patchelf rewrote them, and strip
# would leave them unloadable ("ELF load command address/offset not page-aligned")
FROM build AS build-serve
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends binutils \
    && find /opt/facesense -type f -name "*.so*" -not -path "*.libs/*" -exec strip --strip-unneeded {} + \
    && find /opt/facesense/lib -depth -type d -name tests -prune -exec rm -rf {} + \
    && rm -f /opt/facesense/lib/python3*/site-packages/facesense/assets/models/*.pt \
    && pip uninstall --yes --quiet pip setuptools \
    && facesense --help > /dev/null

# ---- runtime: no compilers, no test tools, no pip cache; a non-root user ---------------------
FROM python AS runtime
RUN groupadd --system --gid 10001 facesense \
    && useradd --system --uid 10001 --gid facesense --create-home --home-dir /home/facesense --shell /usr/sbin/nologin facesense \
    && mkdir /work && chown facesense:facesense /work
ENV PATH=/opt/facesense/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    FACESENSE_URL_FILE=/tmp/facesense-serve.url
# outputs land here: mount a host folder on /work
WORKDIR /work
USER facesense
EXPOSE 8000
# the health endpoint of `facesense serve` at the addresses it wrote to FACESENSE_URL_FILE (one
# a line, one per running server), so that --port and https (--ssl-certfile: its own
# certificate, not checked here) are followed; healthy when one answers, all of them within 4 of
# the 5 s allowed (python: no curl here)
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, ssl, sys, time, urllib.request as r\nend = time.monotonic() + 4\ndef ok(url):\n    try: return r.urlopen(url + 'api/health', timeout=max(0.2, end - time.monotonic()), context=ssl._create_unverified_context()).status == 200\n    except OSError: return False\nsys.exit(not any(ok(u) for u in open(os.environ['FACESENSE_URL_FILE']).read().split() if time.monotonic() < end))"]
ENTRYPOINT ["facesense"]
# in a container the server must listen on every address to be reachable through -p; beyond
# localhost, protect it with the server's token option (see README)
CMD ["serve", "--host", "0.0.0.0"]

# ---- train: `docker build --target train` -----------------------------------------------------
FROM runtime AS train
COPY --chown=root:root configs /opt/facesense-configs
COPY --from=build-train /opt/facesense /opt/facesense
CMD ["--help"]

# ---- serve (default target): the runtime plus the inference environment ---------------------
# last, so that the large layer is the image's top and an old image drops with its tag
FROM runtime AS serve
COPY --from=build-serve /opt/facesense /opt/facesense
