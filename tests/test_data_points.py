import numpy as np
import pytest
import torch

from gankit.config import DataConfig
from gankit.data import GaussianTarget, load_points, make_dataset
from gankit.errors import UserError


def test_chapter_target_covariance():
    target = GaussianTarget([1.0, 2.0], [[1.0, 2.0], [-0.1, 0.5]])
    assert torch.allclose(target.cov, torch.tensor([[1.01, 1.95], [1.95, 4.25]], dtype=torch.float64))
    x = target.sample(200_000, np.random.default_rng(0)).double()
    assert torch.allclose(x.mean(0), target.mean, atol=0.02)
    assert torch.allclose(torch.cov(x.T), target.cov, atol=0.05)


def test_dataset_is_drawn_from_the_seed():
    a = make_dataset(DataConfig(n=10), torch.Generator(), 1).train
    b = make_dataset(DataConfig(n=10), torch.Generator(), 1).train
    c = make_dataset(DataConfig(n=10), torch.Generator(), 2).train
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_csv_with_and_without_header(tmp_path):
    (tmp_path / "h.csv").write_text("x,y,z\n1,2,3\n4,5,6\n")
    (tmp_path / "n.csv").write_text("1,2,3\n4,5,6\n\n")
    for name in ("h.csv", "n.csv"):
        points = load_points(tmp_path / name)
        assert points.shape == (2, 3)
        assert points.dtype == torch.float32
        assert float(points[1, 2]) == 6.0


def test_npy_and_holdout(tmp_path):
    np.save(tmp_path / "p.npy", np.arange(40, dtype=np.float64).reshape(20, 2))
    data = make_dataset(DataConfig(source=str(tmp_path / "p.npy"), holdout=0.25), torch.Generator().manual_seed(0), 0)
    assert data.train.shape == (15, 2) and data.heldout.shape == (5, 2)
    together = torch.cat([data.train, data.heldout])[:, 0].sort().values
    assert torch.equal(together, torch.arange(0, 40, 2, dtype=torch.float32))


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("bad.csv", "1,2\n3,abc\n", r"non-numeric value 'abc' at row 2, column 2"),
        ("nan.csv", "1,2\nnan,4\n", r"non-finite value nan at row 2, column 1"),
        ("inf.csv", "1,2\n3,inf\n", r"non-finite value inf at row 2, column 2"),
        ("empty.csv", "", r"file is empty"),
        ("blank.csv", "\n\n", r"no data rows"),
        ("ragged.csv", "1,2\n3\n", r"row 2 has 1 columns, expected 2"),
        ("one.csv", "1,2\n", r"need at least 2 points"),
    ],
)
def test_bad_csv_is_a_user_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        load_points(path)


def test_bad_npy(tmp_path):
    with pytest.raises(UserError, match="data file not found"):
        load_points(tmp_path / "missing.npy")
    (tmp_path / "junk.npy").write_bytes(b"not an npy file at all")
    with pytest.raises(UserError, match="not an .npy file"):
        load_points(tmp_path / "junk.npy")
    np.save(tmp_path / "obj.npy", np.array(["a", "b"]))
    with pytest.raises(UserError, match="expected a real numeric array"):
        load_points(tmp_path / "obj.npy")


def test_unknown_source():
    with pytest.raises(UserError, match="unknown data source 'nowhere'"):
        make_dataset(DataConfig(source="nowhere"), torch.Generator(), 0)


def test_errors_name_the_line_of_the_file(tmp_path):
    """With a header and blank lines, the row in a message is the line to open in an editor."""
    path = tmp_path / "h.csv"
    path.write_text("x,y\n1,2\n\nnan,3\n")
    with pytest.raises(UserError, match=r"non-finite value nan at row 4, column 1"):
        load_points(path)
    path.write_text("x,y\n\n1,2\n3,oops\n")
    with pytest.raises(UserError, match=r"non-numeric value 'oops' at row 4, column 2"):
        load_points(path)
