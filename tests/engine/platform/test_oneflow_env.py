"""engine.platform.oneflow_env preloads what the installed OneFlow build links, whichever CUDA generation that is.

Fake site-packages layouts hold minimal ELF files with chosen DT_NEEDED entries (written below); the real
installation checks that the ELF reader agrees with readelf and that PyPI's 0.9.0 still gets its nine libraries.
"""
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import engine.platform.oneflow_env as oneflow_env
from engine.platform.oneflow_env import needed_libraries, nvidia_lib_dirs, oneflow_package_dir, plan_preload

VADDR = 0x400000  # the loaded segment's address differs from its file offset, as in real libraries


def write_elf(path: Path, needed: list[str]) -> Path:
    """A minimal 64-bit little-endian ELF shared object: one PT_LOAD, a PT_DYNAMIC with DT_NEEDED and DT_STRTAB."""
    strtab = b"\0" + b"".join(name.encode() + b"\0" for name in needed)
    offsets = [1 + sum(len(n) + 1 for n in needed[:i]) for i in range(len(needed))]
    strtab_at = 64 + 2 * 56
    dynamic_at = (strtab_at + len(strtab) + 7) // 8 * 8
    dynamic = b"".join(struct.pack("<qQ", 1, off) for off in offsets) + struct.pack("<qQ", 5, VADDR + strtab_at) + struct.pack("<qQ", 0, 0)
    size = dynamic_at + len(dynamic)
    header = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9) + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 64, 0, 0, 64, 56, 2, 64, 0, 0)
    load = struct.pack("<IIQQQQQQ", 1, 5, 0, VADDR, VADDR, size, size, 0x1000)
    dyn = struct.pack("<IIQQQQQQ", 2, 6, dynamic_at, VADDR + dynamic_at, VADDR + dynamic_at, len(dynamic), len(dynamic), 8)
    body = header + load + dyn + strtab
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body + bytes(dynamic_at - len(body)) + dynamic)
    return path


def fake_build(site: Path, links: list[str], bundled: tuple[str, ...] = ("libnccl-1a2b.so.2",)) -> Path:
    """site/oneflow (the extension) + site/oneflow.libs (liboneflow and what auditwheel bundled)."""
    write_elf(site / "oneflow" / "_oneflow_internal.cpython-310-x86_64-linux-gnu.so", ["liboneflow-abc.so", "libc.so.6"])
    write_elf(site / "oneflow.libs" / "liboneflow-abc.so", [*links, *bundled, "libstdc++.so.6", "libc.so.6"])
    for name in bundled:
        write_elf(site / "oneflow.libs" / name, ["libc.so.6"])
    return site / "oneflow"


def nvidia_wheel(site: Path, package: str, libraries: dict[str, list[str]]) -> Path:
    for name, needs in libraries.items():
        write_elf(site / "nvidia" / package / "lib" / name, needs)
    return site / "nvidia" / package / "lib"


CU11 = {"cublas": {"libcublasLt.so.11": [], "libcublas.so.11": ["libcublasLt.so.11"], "libnvblas.so.11": ["libcublas.so.11"]},
        "cudnn": {"libcudnn.so.8": [], "libcudnn_ops_infer.so.8": [], "libcudnn_ops_train.so.8": ["libcudnn_ops_infer.so.8"],
                  "libcudnn_cnn_infer.so.8": ["libcudnn_ops_infer.so.8"],
                  "libcudnn_cnn_train.so.8": ["libcudnn_ops_infer.so.8", "libcudnn_ops_train.so.8", "libcudnn_cnn_infer.so.8"],
                  "libcudnn_adv_infer.so.8": ["libcudnn_ops_infer.so.8"],
                  "libcudnn_adv_train.so.8": ["libcudnn_ops_infer.so.8", "libcudnn_ops_train.so.8", "libcudnn_adv_infer.so.8"]}}
CU12 = {"cublas": {"libcublasLt.so.12": [], "libcublas.so.12": ["libcublasLt.so.12"], "libnvblas.so.12": ["libcublas.so.12"]},
        "cudnn": {"libcudnn.so.9": [], "libcudnn_graph.so.9": [], "libcudnn_ops.so.9": ["libcudnn_graph.so.9"],
                  "libcudnn_engines_precompiled.so.9": ["libcudnn_graph.so.9"], "libcudnn_cnn.so.9": ["libcudnn_ops.so.9", "libcudnn_graph.so.9"]},
        "cuda_runtime": {"libcudart.so.12": []}}
LINKS_090 = ["libcudnn_cnn_infer.so.8", "libcudnn_cnn_train.so.8", "libcudnn_ops_infer.so.8", "libcudnn_ops_train.so.8",
             "libcublas.so.11", "libcublasLt.so.11"]
LINKS_CU12 = ["libcudnn.so.9", "libcublas.so.12", "libcublasLt.so.12", "libcudart.so.12"]


def wheels(site: Path, generation: dict) -> list[Path]:
    return [nvidia_wheel(site, package, libraries) for package, libraries in generation.items()]


def assert_dependencies_first(plan: list[Path]) -> None:
    position = {p.name: i for i, p in enumerate(plan)}
    for path in plan:
        for dependency in needed_libraries(path):
            if dependency in position:
                assert position[dependency] < position[path.name], f"{path.name} is loaded before its dependency {dependency}"


def test_the_elf_reader_reads_what_it_was_given(tmp_path):
    names = ["libcudnn.so.9", "libcublas.so.12", "libc.so.6"]
    assert needed_libraries(write_elf(tmp_path / "lib.so", names)) == names
    (tmp_path / "text.so").write_text("not an ELF file")
    (tmp_path / "short.so").write_bytes(write_elf(tmp_path / "x.so", names).read_bytes()[:100])
    assert needed_libraries(tmp_path / "text.so") == needed_libraries(tmp_path / "short.so") == needed_libraries(tmp_path / "none.so") == []


def test_a_cuda_11_build_gets_the_cu11_libraries_and_their_families(tmp_path):
    oneflow_dir = fake_build(tmp_path / "site", LINKS_090)
    plan = plan_preload(oneflow_dir, wheels(tmp_path / "site", CU11))
    assert sorted(p.name for p in plan) == sorted(n for n in [*CU11["cublas"], *CU11["cudnn"]] if n != "libnvblas.so.11")
    assert_dependencies_first(plan)


def test_a_cuda_12_build_gets_the_cu12_libraries_even_with_cu11_wheels_installed(tmp_path):
    oneflow_dir = fake_build(tmp_path / "site", LINKS_CU12)
    dirs = wheels(tmp_path / "other-site", CU11) + wheels(tmp_path / "site", CU12)
    plan = plan_preload(oneflow_dir, dirs)
    assert sorted(p.name for p in plan) == sorted(["libcublasLt.so.12", "libcublas.so.12", "libcudart.so.12", *CU12["cudnn"]])
    assert all(tmp_path / "site" in p.parents for p in plan)
    assert_dependencies_first(plan)


def test_bundled_and_system_libraries_are_left_to_the_dynamic_loader(tmp_path):
    oneflow_dir = fake_build(tmp_path / "site", ["libcublas.so.12"], bundled=("libcublas.so.12",))
    assert plan_preload(oneflow_dir, wheels(tmp_path / "site", CU12)) == []  # the build carries its own cuBLAS
    assert plan_preload(fake_build(tmp_path / "cpu", ["libz.so.1"]), wheels(tmp_path / "cpu", CU12)) == []


@pytest.mark.skipif(shutil.which("readelf") is None, reason="readelf (binutils) is not installed")
def test_the_elf_reader_agrees_with_readelf_on_the_installed_oneflow():
    for library in oneflow_env.oneflow_native_libraries(oneflow_package_dir()):
        listing = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True, check=True).stdout
        expected = [line.split("[", 1)[1].rstrip("]") for line in listing.splitlines() if "(NEEDED)" in line]
        assert needed_libraries(library) == expected and expected


def test_the_installed_oneflow_090_gets_the_nine_cu11_libraries_it_always_had():
    plan = plan_preload(oneflow_package_dir(), nvidia_lib_dirs())
    if not any("libcudnn_cnn_infer.so.8" in needed_libraries(lib) for lib in oneflow_env.oneflow_native_libraries(oneflow_package_dir())):
        pytest.skip("the installed OneFlow is not PyPI's 0.9.0 (another build was installed with ONEFLOW_SPEC)")
    assert sorted(p.name for p in plan) == sorted(["libcublasLt.so.11", "libcublas.so.11", "libcudnn.so.8", "libcudnn_ops_infer.so.8",
                                                   "libcudnn_ops_train.so.8", "libcudnn_cnn_infer.so.8", "libcudnn_cnn_train.so.8",
                                                   "libcudnn_adv_infer.so.8", "libcudnn_adv_train.so.8"])
    assert oneflow_env.preload_cuda_libraries() == [str(p) for p in plan]  # this process (conftest imported it first)
    assert_dependencies_first(plan)


def test_a_build_with_liboneflow_beside_its_extension_is_read_too(tmp_path):
    site = tmp_path / "site"
    write_elf(site / "oneflow" / "_oneflow_internal.cpython-310-x86_64-linux-gnu.so", ["liboneflow.so"])
    write_elf(site / "oneflow" / "liboneflow.so", ["libcublas.so.12", "libcublasLt.so.12"])
    plan = plan_preload(site / "oneflow", wheels(site, {"cublas": CU12["cublas"]}))
    assert [p.name for p in plan] == ["libcublasLt.so.12", "libcublas.so.12"]
