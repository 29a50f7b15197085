"""eiegen/safeload.py: reading untrusted files (issue 19, items 7 and 10)."""

import io
import os
import zipfile

import numpy as np
import pytest

from eiegen.safeload import check_samples, load_arrays, read_regular


def _npy_header(shape, descr="<f8") -> bytes:
    h = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    h += b" " * (63 - (10 + len(h)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h


def test_read_regular_refuses_devices_links_folders_and_size(tmp_path):
    with pytest.raises(ValueError, match="not a regular file"):
        read_regular("/dev/zero", limit=10, what="x")
    (tmp_path / "link").symlink_to("/etc/passwd")
    with pytest.raises(ValueError, match="is a symbolic link|lies outside"):
        read_regular(tmp_path / "link", limit=10**6, what="x", inside=tmp_path)
    with pytest.raises(ValueError, match="is a folder"):
        read_regular(tmp_path, limit=10, what="x")
    (tmp_path / "big").write_bytes(b"x" * 11)
    with pytest.raises(ValueError, match="11 bytes, more than the 10 allowed"):
        read_regular(tmp_path / "big", limit=10, what="x")
    (tmp_path / "sub").mkdir()
    os.symlink("/etc", tmp_path / "sub" / "up")
    with pytest.raises(ValueError, match="lies outside"):
        read_regular(tmp_path / "sub" / "up" / "hostname", limit=10**6, what="x",
                     inside=tmp_path / "sub")
    assert read_regular(tmp_path / "big", limit=11, what="x") == b"x" * 11


def test_declared_huge_arrays_refused_before_allocation(tmp_path):
    (tmp_path / "x.npy").write_bytes(_npy_header((100000, 100000)))
    with pytest.raises(ValueError, match="declares a 100000x100000 float64 array"):
        load_arrays(tmp_path / "x.npy", what="inputs")
    (tmp_path / "y.npy").write_bytes(_npy_header((10, 10)) + b"\0" * 80)  # 800 needed
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_arrays(tmp_path / "y.npy", what="inputs")
    with zipfile.ZipFile(tmp_path / "m.npz", "w") as z:
        z.writestr("layer0.weight.npy", _npy_header((100000, 100000)))
    with pytest.raises(ValueError, match="m.npz: layer0.weight declares"):
        load_arrays(tmp_path / "m.npz", what="model")


def test_bad_crc_pickles_and_good_files(tmp_path):
    np.savez(tmp_path / "a.npz", w=np.arange(100.0))
    data = bytearray((tmp_path / "a.npz").read_bytes())
    data[200] ^= 0xFF  # inside the stored member: the CRC no longer fits
    (tmp_path / "b.npz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt .npz"):
        load_arrays(tmp_path / "b.npz", what="model")
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="Python objects"):
        load_arrays(tmp_path / "o.npy", what="inputs")
    got = load_arrays(tmp_path / "a.npz", what="model")
    assert list(got) == ["w"] and np.array_equal(got["w"], np.arange(100.0))
    buf = io.BytesIO()
    np.save(buf, np.eye(3))
    assert np.array_equal(load_arrays("mem.npy", what="x", data=buf.getvalue()), np.eye(3))


def test_check_samples():
    x = np.zeros((3, 4))
    assert check_samples(x, 4, "inputs") is not None
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite value.*sample 2, feature 1"):
        check_samples(x, 4, "inputs")
    with pytest.raises(ValueError, match="hold no samples"):
        check_samples(np.zeros((0, 4)), 4, "inputs")
    with pytest.raises(ValueError, match=r"shape \(batch, 5\)"):
        check_samples(np.zeros((3, 4)), 5, "inputs")
    with pytest.raises(ValueError, match="real numbers"):
        check_samples(np.zeros((3, 4), dtype=complex), 4, "inputs")
