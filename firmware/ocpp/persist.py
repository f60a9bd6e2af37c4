# Small atomic file writes: write a temporary file, then rename over the old
# one (rename is atomic on littlefs/FAT-with-journal and POSIX), so a power
# loss leaves either the old or the new content, never a mix.
import json
import os


def save_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(obj))
    os.rename(tmp, path)


def load_json(path, default):
    try:
        with open(path) as f:
            return json.loads(f.read())
    except OSError:
        return default
    except ValueError:
        return default
