#!/usr/bin/env bash
# Build the facesense container image and smoke-test it: --version, `demo` and `live` writing
# into a mounted folder, and the web server answering its health check and a photo with a face.
#
#   bash scripts/container_test.sh                         # reuses the base image and build cache
#   FACESENSE_COLD=1 bash scripts/container_test.sh        # new base image, no build cache
#
# With a running Docker daemon it builds with `docker build` from the Dockerfile's public base.
# Otherwise (root, no daemon) it uses Debian's buildah: the base is a Debian bookworm minbase made
# with debootstrap once per machine (tarball kept in $FACESENSE_CONTAINER_CACHE, default
# /var/cache/facesense-container; image localhost/debian-base:bookworm), and commands run with
# `podman run` where that works, else `buildah run`. Missing buildah/podman/debootstrap are
# installed with apt-get. Exits non-zero on the first failed step; removes its containers.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${FACESENSE_IMAGE:-localhost/facesense:test}
MAX_MB=${FACESENSE_MAX_IMAGE_MB:-700}
CACHE_DIR=${FACESENSE_CONTAINER_CACHE:-/var/cache/facesense-container}
BASE_IMAGE=localhost/debian-base:bookworm
BASE_TAR=$CACHE_DIR/debian-bookworm-minbase.tar
CTR_PREFIX=facesense-smoke-
ENGINE="" RUNNER="" INSPECT=""
CTR=""            # working container (buildah) or server container (docker/podman)
SERVER_PID=""
LATE_FAILURE=""
WORK=$(mktemp -d "${TMPDIR:-/tmp}/facesense-container.XXXXXX")
START=$SECONDS
STEP_START=$SECONDS

step() { printf '\n== %s\n' "$*"; STEP_START=$SECONDS; }
done_step() { printf -- '-- ok (%ds)\n' $((SECONDS - STEP_START)); }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

cleanup() {
    local rc=$?
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM -- "-$SERVER_PID" 2>/dev/null || kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n $CTR ]]; then
        case $RUNNER in
            buildah) buildah rm "$CTR" >/dev/null 2>&1 || true ;;
            *) "$RUNNER" rm -f "$CTR" >/dev/null 2>&1 || true ;;
        esac
    fi
    rm -rf "$WORK"
    if ((rc == 0)); then
        printf '\nPASS: container image %s (%d s in all)\n' "$IMAGE" $((SECONDS - START))
    else
        printf '\nFAILED (exit %d) after %d s\n' "$rc" $((SECONDS - START)) >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need_root() {
    [[ $(id -u) == 0 ]] || fail "$1 needs root here (no Docker daemon answered): run as root, or start a Docker daemon"
}

# ---- engine ---------------------------------------------------------------------------------
step "engine"
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    ENGINE=docker RUNNER=docker INSPECT=docker
else
    need_root "building with buildah"
    missing=()
    for tool in buildah podman debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    if ((${#missing[@]})); then
        echo "installing ${missing[*]} with apt-get"
        command -v apt-get >/dev/null || fail "${missing[*]} missing and no apt-get to install them"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    ENGINE=buildah RUNNER=buildah   # podman run is tried once the base exists
    INSPECT=podman                  # podman reads buildah's image store
fi
echo "engine: $ENGINE ($($ENGINE --version | head -n 1))"
done_step

# ---- base image (buildah only; docker pulls the Dockerfile's public base) ----------------------
apt_uri() {   # first URI of this machine's apt sources that serves suite $1
    local suite=$1
    {
        # one-line format: deb [opts] URI SUITE COMPONENTS...
        grep -hE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | sed -E 's/\[[^]]*\]//' | awk -v s="$suite" '$3 == s { print $2 }'
        # deb822 format: stanzas with URIs: and Suites:
        cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v s="$suite" '
            /^[[:space:]]*$/ { if (uris != "" && hit) print uris; uris = ""; hit = 0; next }
            tolower($1) == "uris:" { uris = $2 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == s) hit = 1 }
            END { if (uris != "" && hit) print uris }'
    } | head -n 1
}

make_base() {
    local mirror security rootfs=$CACHE_DIR/rootfs.partial
    mirror=$(apt_uri bookworm); mirror=${mirror:-http://deb.debian.org/debian}
    security=$(apt_uri bookworm-security); security=${security:-http://deb.debian.org/debian-security}
    echo "debootstrap --variant=minbase bookworm from $mirror (about a minute or two)"
    mkdir -p "$CACHE_DIR"
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -n 20 "$WORK/debootstrap.log" >&2; fail "debootstrap failed (log above)"; }
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
        "$mirror" "$mirror" "$security" >"$rootfs/etc/apt/sources.list"
    # slim like debian:bookworm-slim (the public base's own base): no docs, man pages or
    # translations, now or in packages installed later
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,linda}/*
    find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
    tar -C "$rootfs" --numeric-owner -cf "$BASE_TAR.partial" .
    mv "$BASE_TAR.partial" "$BASE_TAR"   # only a finished tarball is ever reused
    rm -rf "$rootfs"
}

BUILD_ARGS=()
if [[ $ENGINE == buildah ]]; then
    step "base image $BASE_IMAGE"
    if [[ -n ${FACESENSE_COLD:-} ]]; then
        if buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
            buildah rmi "$BASE_IMAGE" >/dev/null \
                || fail "$BASE_IMAGE is in use by containers (buildah containers); cannot rebuild it now"
        fi
        rm -f "$BASE_TAR"
    fi
    if buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
        echo "base: reused $BASE_IMAGE"
    else
        if [[ -f $BASE_TAR ]]; then
            echo "base: importing $BASE_TAR"
        else
            make_base
            echo "base: built $BASE_TAR"
        fi
        podman import --quiet "$BASE_TAR" "$BASE_IMAGE" >/dev/null
    fi
    BUILD_ARGS+=(--build-arg "BASE=$BASE_IMAGE")
    if podman run --rm "$BASE_IMAGE" true >/dev/null 2>&1; then RUNNER=podman; fi
    echo "commands will run with: $RUNNER"
    done_step
fi

# ---- build ------------------------------------------------------------------------------------
# pip inside the build reaches the package registries only with this machine's pip settings:
# their merged form (`pip config list`: /etc/pip.conf, /etc/xdg/pip, the user's file, PIP_*
# variables) goes in read-only as /etc/pip.conf, with the files and folders it names. Nothing is
# passed where there is no such configuration, and the Dockerfile itself stays standard.
PIP_CONF_PY=$(cat <<'EOF'
import os, re, sys
conf, sections, volumes = sys.argv[1], {}, set()
for line in sys.stdin:
    m = re.match(r"^(:env:|[\w-]+)\.([\w-]+)=(.*)$", line.strip())
    if not m:
        continue
    section, key, value = m.groups()
    words = []
    for word in value.strip("'\"").split():
        path = word[len("file://"):] if word.startswith("file://") else word
        if path.startswith("/") and os.path.isfile(path):
            # files (CA bundle, constraints) go to a folder of their own: a package in the image
            # may own the same path (ca-certificates rewrites /etc/ssl/certs during the build)
            inside = f"/run/host-pip/{key}-{os.path.basename(path)}"
            volumes.add(f"{path}:{inside}:ro")
            word = word.replace(path, inside)
        elif path.startswith("/") and os.path.isdir(path):
            # the pages of an index folder link to files beside it (../../files)
            folder = os.path.dirname(path.rstrip("/")) if path.rstrip("/").endswith("/simple") else path
            volumes.add(f"{folder}:{folder}:ro")
        words.append(word)
    sections.setdefault("global" if section == ":env:" else section, {})[key] = " ".join(words)
if sections:
    with open(conf, "w") as f:
        for name, items in sections.items():
            f.write(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in items.items()))
    print(f"{conf}:/etc/pip.conf:ro")
    print("\n".join(sorted(volumes)))
EOF
)
pip_volumes() {
    command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1 || return 0
    python3 -m pip config list 2>/dev/null | python3 -c "$PIP_CONF_PY" "$WORK/pip.conf"
    return 0
}

step "build $IMAGE"
OLD_ID=$($INSPECT image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
if [[ $ENGINE == docker ]]; then
    docker build ${FACESENSE_COLD:+--no-cache} -t "$IMAGE" . 2>&1 | tail -n 20
else
    VOLUMES=()
    while IFS= read -r v; do [[ -n $v ]] && VOLUMES+=(--volume "$v"); done < <(pip_volumes)
    ((${#VOLUMES[@]})) && printf 'pip settings passed in: %s\n' "${VOLUMES[*]}"
    buildah bud --isolation chroot --layers --force-rm --format docker ${FACESENSE_COLD:+--no-cache} \
        "${VOLUMES[@]}" "${BUILD_ARGS[@]}" -t "$IMAGE" . >"$WORK/build.log" 2>&1 \
        || { tail -n 40 "$WORK/build.log" >&2; fail "image build failed (log above)"; }
    grep -E 'STEP [0-9]+/[0-9]+: (FROM|RUN|COPY)|^COMMIT' "$WORK/build.log" | cut -c1-150
fi
NEW_ID=$($INSPECT image inspect --format '{{.Id}}' "$IMAGE")
if [[ -n $OLD_ID && $OLD_ID != "$NEW_ID" ]]; then
    $ENGINE rmi "$OLD_ID" >/dev/null 2>&1 || true   # the previous build's image, now untagged
fi
SIZE=$($INSPECT image inspect --format '{{.Size}}' "$IMAGE")
SIZE_MB=$((SIZE / 1000000))
echo "image size: $SIZE_MB MB (limit $MAX_MB MB)"
# over the target: the smoke tests still run (they say more), the script fails at the end
((SIZE_MB <= MAX_MB)) || LATE_FAILURE="image is $SIZE_MB MB, over the $MAX_MB MB target"
done_step

# ---- commands in the image ----------------------------------------------------------------------
# in_image [-v HOST:CTR[:ro]]... -- PROGRAM ARGS...   (PROGRAM: facesense or python)
if [[ $RUNNER == buildah ]]; then
    for old in $(buildah containers --format '{{.ContainerName}}' | grep "^$CTR_PREFIX" || true); do
        kill -0 "${old#"$CTR_PREFIX"}" 2>/dev/null || buildah rm "$old" >/dev/null   # left by a killed run
    done
    CTR=$(buildah from --name "$CTR_PREFIX$$" "$IMAGE")
fi
in_image() {
    local mounts=()
    while [[ $1 != -- ]]; do mounts+=("$1" "$2"); shift 2; done
    shift
    if [[ $RUNNER == buildah ]]; then
        buildah run --isolation chroot "${mounts[@]}" "$CTR" -- "$@"
    else
        "$RUNNER" run --rm -i "${mounts[@]}" --entrypoint "$1" "$IMAGE" "${@:2}"
    fi
}

OUT=$WORK/out
mkdir -p "$OUT" && chmod 0777 "$OUT"   # the image's user (uid 10001) writes here

step "what the image holds"
in_image -- python - <<'EOF'
import importlib.metadata as md, importlib.util, os, shutil, sys
print(f"python {sys.version.split()[0]} at {sys.executable}, user uid {os.getuid()}")
problems = []
if os.getuid() == 0:
    problems.append("runs as root")
for tool in ("gcc", "cc", "g++", "make", "pytest"):
    if shutil.which(tool):
        problems.append(f"{tool} is installed")
for module in ("torch", "pytest"):
    if importlib.util.find_spec(module):
        problems.append(f"{module} is installed")
site = next(p for p in sys.path if p.endswith("site-packages"))
# every compiled library still loads (the build strips them)
import ctypes
libraries = [os.path.join(d, f) for d, _, fs in os.walk(site) for f in fs if ".so" in f]
for library in libraries:
    try:
        ctypes.CDLL(library)
    except OSError as exc:
        problems.append(f"{library} does not load: {exc}")
print(f"{len(libraries)} compiled libraries load")
sizes = []
for name in os.listdir(site):
    root = os.path.join(site, name)
    if os.path.isdir(root) and not name.endswith("-info"):
        sizes.append((sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs), name))
print("largest packages: " + ", ".join(f"{n} {s / 1e6:.0f} MB" for s, n in sorted(sizes, reverse=True)[:8]))
print(f"site-packages in all: {sum(s for s, _ in sizes) / 1e6:.0f} MB")
if problems:
    print("serving image: " + "; ".join(problems), file=sys.stderr)
sys.stdout.flush()
sys.stderr.flush()
os._exit(1 if problems else 0)   # no interpreter teardown with foreign libraries loaded
EOF
done_step

step "facesense --version"
if in_image -- facesense --help | grep -q -- '--version'; then
    in_image -- facesense --version
else   # the CLI has no --version flag yet: the installed package's version
    in_image -- python -c "import importlib.metadata as m; print('facesense', m.version('facesense'), '(package metadata)')"
fi
done_step

step "facesense models (the shipped models' names, without PyTorch)"
MODELS=$(in_image -- facesense models)
echo "$MODELS" | head -8
for name in expression.int8.onnx gender_age sentiment; do
    grep -q -- "$name" <<<"$MODELS" || fail "facesense models in the serving image does not list $name"
done
done_step

step "facesense demo -> mounted folder"
in_image -v "$OUT:/out" -- facesense demo --out /out/demo
for f in annotated.mp4 frames.csv frames.jsonl summary.json summary_timeline.png demo_clip.mp4; do
    [[ -s $OUT/demo/$f ]] || fail "demo wrote no $f"
done
echo "demo wrote: $(cd "$OUT/demo" && ls | tr '\n' ' ')"
done_step

faces_in_summary() {   # prints the face count of a live summary.json, with the image's python
    in_image -v "$1:/summary.json:ro" -- python -c "import json; print(json.load(open('/summary.json'))['faces'])"
}
(($(faces_in_summary "$OUT/demo/summary.json") >= 1)) || fail "demo found no face"

step "facesense live --source <mounted clip> --no-window"
mkdir -p "$OUT/live" && chmod 0777 "$OUT/live"
in_image -v "$OUT/demo/demo_clip.mp4:/data/clip.mp4:ro" -v "$OUT/live:/out" -- \
    facesense live --source /data/clip.mp4 --no-window --out /out/annotated.mp4 \
    --log /out/frames.csv --jsonl /out/frames.jsonl --summary /out/summary.json
for f in annotated.mp4 frames.csv frames.jsonl summary.json; do
    [[ -s $OUT/live/$f ]] || fail "live wrote no $f"
done
LIVE_FACES=$(faces_in_summary "$OUT/live/summary.json")
echo "live: $LIVE_FACES faces in the clip"
((LIVE_FACES >= 1)) || fail "live found no face in the demo clip"
done_step

step "training commands say what they need"
set +e
TRAIN_ERR=$(in_image -- facesense train /work/config.yaml 2>&1 >/dev/null)
TRAIN_RC=$?
# buildah adds its own lines about the exit status
TRAIN_ERR=$(grep -v -e '^subprocess exited' -e '^Error: exit status' <<<"$TRAIN_ERR")
set -e
echo "facesense train: exit $TRAIN_RC: $TRAIN_ERR"
((TRAIN_RC == 2)) && [[ $TRAIN_ERR == *"facesense[train]"* && $(wc -l <<<"$TRAIN_ERR") == 1 ]] \
    || fail "facesense train in the serving image should exit 2 with one line naming the train extra"
done_step

# ---- the web server -----------------------------------------------------------------------------
# The probe runs with the image's python (nothing needed on the host): wait for the health
# endpoint, run the image's own HEALTHCHECK command, POST the Grace Hopper photo matplotlib ships
# and require at least one face in the JSON.
PROBE=$(cat <<'EOF'
import json, subprocess, sys, time, urllib.request
from matplotlib import cbook
base, healthcheck = sys.argv[1], json.loads(sys.argv[2])
deadline = time.monotonic() + 180
while True:
    try:
        with urllib.request.urlopen(base + "/api/health", timeout=5) as r:
            print(f"health: {r.status} {r.read().decode()}")
            break
    except OSError as exc:
        if time.monotonic() > deadline:
            sys.exit(f"no answer from {base}/api/health within 180 s ({exc})")
        time.sleep(1)
if healthcheck:
    subprocess.run(healthcheck, check=True)
    print("HEALTHCHECK command: ok")
photo = open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), "rb").read()
request = urllib.request.Request(base + "/api/analyze", data=photo, method="POST",
                                 headers={"Content-Type": "image/jpeg"})
with urllib.request.urlopen(request, timeout=120) as r:
    result = json.load(r)
faces = result.get("faces") or []
print(f"POST /api/analyze (grace_hopper.jpg, {len(photo)} bytes): {len(faces)} face(s)")
for face in faces:
    print("  " + json.dumps({k: v for k, v in face.items() if k != "annotated_jpeg_base64"})[:300])
if not faces:
    sys.exit("the server found no face in the photo")
EOF
)
# the image's HEALTHCHECK test as an argument list (CMD form), for the probe to run as it is: it
# finds the server at the address serve wrote to $FACESENSE_URL_FILE, whatever its port
healthcheck_cmd() {
    $INSPECT image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE" 2>/dev/null \
        | python3 -c '
import json, sys
h = json.loads(sys.stdin.read() or "null") or {}
test = h.get("Test") or []
print(json.dumps(test[1:] if test[:1] == ["CMD"] else []))
'
}

step "facesense serve: health check and a photo"
if [[ $RUNNER == buildah ]]; then
    # buildah run shares the host's network: a free loopback port, the server in the background
    # (retried: a buildah run right after the last one has once exited 2 with no output)
    for _ in 1 2 3; do
        PORT=$(in_image -- python -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])") && [[ -n $PORT ]] && break
        sleep 2
    done
    [[ -n $PORT ]] || fail "no free port could be read from inside the image"
    HC=$(healthcheck_cmd)
    [[ $HC != "[]" ]] || fail "the image has no HEALTHCHECK command"
    setsid buildah run --isolation chroot "$CTR" -- facesense serve --host 127.0.0.1 --port "$PORT" \
        >"$WORK/serve.log" 2>&1 &
    SERVER_PID=$!
    echo "server: pid $SERVER_PID on 127.0.0.1:$PORT"
    for ((waited = 0; ; waited++)); do   # until the port accepts connections or the server exits
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; fail "the server exited (its log above)"; }
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        ((waited < 180)) || { cat "$WORK/serve.log" >&2; fail "the server did not listen within 180 s"; }
        sleep 1
    done
    echo "listening after ${waited} s"
    in_image -- python -c "$PROBE" "http://127.0.0.1:$PORT" "$HC" \
        || { cat "$WORK/serve.log" >&2; fail "server smoke test failed (server log above)"; }
    kill -TERM -- "-$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    in_image -- python -c "
import socket, sys
try:
    socket.create_connection(('127.0.0.1', $PORT), timeout=2)
except OSError:
    sys.exit()
sys.exit('the server still answers on port $PORT after being stopped')"
    echo "server stopped"
else
    # the image's own CMD (serve --host 0.0.0.0 on 8000); the probe runs inside the container
    CTR=$CTR_PREFIX$$
    "$RUNNER" run -d --name "$CTR" -p 127.0.0.1::8000 "$IMAGE" >/dev/null
    "$RUNNER" exec "$CTR" python -c "$PROBE" "http://127.0.0.1:8000" "$(healthcheck_cmd)" \
        || { "$RUNNER" logs "$CTR" >&2; fail "server smoke test failed (server log above)"; }
    echo "published on: $("$RUNNER" port "$CTR" 8000)"
    "$RUNNER" stop -t 10 "$CTR" >/dev/null
fi
done_step
echo "image size: $SIZE_MB MB"
[[ -z $LATE_FAILURE ]] || fail "$LATE_FAILURE"
