"""boards/stm32h743/manifest.py freezes everything the board boots: every module reachable by import
from boot (main.py) and from the service tables (config/v2g.py, config/bridge.py) that lives in this
repository must be frozen, or the image boots without it (it once missed power_stage.py: no power
path, no error until a service imported it). Modules that are not in the repository (micropython,
pyb, asyncio, ...) come from the port and are out of scope here; the board image build
(`jezgro firmware build --target stm32`) compiles every frozen file."""
from __future__ import annotations

import ast
from pathlib import Path

from jezgro_host.mp import FIRMWARE, STM32_BOARD

MANIFEST = STM32_BOARD / "manifest.py"
SEARCH = (FIRMWARE, STM32_BOARD)  # sys.path order of the board (frozen firmware, board layer)


def frozen_modules(manifest: Path = MANIFEST) -> dict[str, Path]:
    """module name -> source file, by running the manifest with MicroPython's manifest functions
    (package/module; include/require bring the port's own modules and are not ours)."""
    out: dict[str, Path] = {}
    base_dir = manifest.parent

    def package(name: str, base_path: str = ".", **_kw: object) -> None:
        root = (base_dir / base_path).resolve()
        for f in sorted((root / name).rglob("*.py")):
            rel = f.relative_to(root).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out[".".join(parts)] = f

    def module(name: str, base_path: str = ".", **_kw: object) -> None:
        f = (base_dir / base_path / name).resolve()
        assert f.exists(), f"manifest names {f}, which does not exist"
        out[Path(name).stem] = f

    def ignore(*_a: object, **_kw: object) -> None:
        pass

    exec(compile(manifest.read_text(), str(manifest), "exec"),
         {"package": package, "module": module, "include": ignore, "require": ignore, "freeze": ignore})
    return out


def source_of(name: str) -> Path | None:
    for root in SEARCH:
        for f in (root / (name.replace(".", "/") + ".py"), root / name.replace(".", "/") / "__init__.py"):
            if f.exists():
                return f
    return None


def imports_of(f: Path) -> set[str]:
    """Every absolute import in the file, also inside functions (lazy imports are imports too);
    `from pkg import x` counts pkg.x when that is a module."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(f.read_text(), str(f))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names if source_of(f"{node.module}.{a.name}"))
    # a package's parents are imported first
    return names | {n.rsplit(".", i)[0] for n in names for i in range(1, n.count(".") + 1)}


def service_modules(table: str) -> list[str]:
    """The module column of a service table (the 7th argument of each ServiceSpec)."""
    mods = []
    for node in ast.walk(ast.parse((FIRMWARE / table).read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "S" and len(node.args) >= 7:
            arg = node.args[6]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                mods.append(arg.value)
    return mods


def reachable() -> dict[str, Path]:
    roots = ["config.v2g", "config.bridge", *service_modules("config/v2g.py"), *service_modules("config/bridge.py")]
    todo = [f for f in (source_of(n) for n in roots) if f] + [STM32_BOARD / "main.py"]
    seen: dict[str, Path] = {}
    done: set[Path] = set()
    while todo:
        f = todo.pop()
        if f in done:
            continue
        done.add(f)
        for name in imports_of(f):
            src = source_of(name)
            if src is not None and name not in seen:
                seen[name] = src
                todo.append(src)
    return seen


def test_the_service_tables_name_real_modules():
    assert len(service_modules("config/v2g.py")) >= 8
    assert len(service_modules("config/bridge.py")) >= 3


def test_every_module_the_board_boots_is_frozen():
    frozen = frozen_modules()
    needed = reachable()
    assert "power_stage" in needed and "board" in needed  # the walk reaches the board layer
    missing = sorted(n for n in needed if n not in frozen)
    assert not missing, f"imported at boot or by a service but not frozen by {MANIFEST.name}: {missing}"
    # and frozen from the file the board would import (firmware/ before the board layer)
    wrong = sorted(n for n in needed if frozen[n].resolve() != needed[n].resolve())
    assert not wrong, wrong


def test_main_py_stays_on_the_filesystem():
    # main.py is the boot script the stm32 port runs from /flash (service mode, boot changes without
    # reflashing): freezing it would make it shadow nothing and confuse the boot order.
    assert "main" not in frozen_modules()
