"""Synthetic face embeddings from a model fitted to real ones (for benchmarks/search.py).

Real galleries of 10^6-10^7 faces are not available, and an isotropic Gaussian makes a poor
stand-in: its mates are far too similar and its impostors far too well separated, so every
index looks perfect on it. This module fits a two-level Gaussian model to real embeddings
(LFW, produced by ``facesearch embed --main``) and samples from it:

    centre_i   = mu + b B z_i               z_i ~ N(0, I)    B B' = between-person covariance
    face_ij    = normalise(centre_i + w s_i W e_ij)
                                            e_ij ~ N(0, I)   W W' = pooled within-person cov.
    log s_i    ~ N(-sigma^2 / 2, sigma^2)   per-person spread (some people vary more)

The covariances are estimated in the full embedding space (equivalently in its PCA basis),
the between-person one corrected for the noise in person means estimated from few images.
Three scalars (w, b and sigma) are then tuned so that the mean and spread of mated and
impostor scores of a synthetic LFW (same images-per-person counts) match the real ones
(least squares). The tails are not fitted, only reported: on SFace/LFW the synthetic mated
1 % quantile comes out 0.02-0.05 high and the impostor score at FMR 1e-4 ~0.02 low (real
data has mislabels, near-duplicates, relatives and unusable photos that a Gaussian lacks),
while the FMR 1e-3 threshold agrees to ~0.007. (A per-image "identity strength" factor was
tried for the tails: it moved the impostor mean as much as the tails, and was dropped.)

``mates_in_probed_cells`` checks what matters most for an IVF index: how often a mate falls
in a cell near its probe's. On SFace/LFW the synthetic set is slightly harder than the real
one (0.83 vs 0.85 of mated pairs share the nearest of 64 cells), so the benchmark's IVF
recall should, if anything, understate the real one. ``compare`` reports both distributions side by
side: mean, std, 1/50/99 % quantiles, and the impostor scores at false-match rates 1e-3 and
1e-4 (the thresholds an operator would pick).

``standin`` makes an LFW-shaped stand-in data set for development when real embeddings are
not at hand; its numbers mean nothing about any real model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class FaceModel:
    """A fitted generator of face embeddings. Sample with ``sample_people`` / ``sample_faces``."""

    mean: F64  # (d,) mean of the person centres
    between: F64  # (d, d) factor B of the between-person covariance, B @ B.T
    within: F64  # (d, d) factor W of the pooled within-person covariance
    between_scale: float = 1.0
    within_scale: float = 1.0
    spread_sigma: float = 0.0  # sd of log s_i, the per-person spread factor

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])


@dataclass(frozen=True)
class People:
    """Centres and spread factors of a batch of synthetic people."""

    centres: F64  # (n, d)
    spread: F64  # (n,)


def load_real(path: Path) -> tuple[F32, npt.NDArray[np.str_]]:
    """Read an ``.npz`` with ``embeddings`` (N, d) float32 and ``labels`` (N,) str."""
    with np.load(path, allow_pickle=False) as data:
        emb = np.ascontiguousarray(data["embeddings"], dtype=np.float32)
        labels = np.asarray(data["labels"]).astype(str)
    if emb.ndim != 2 or len(labels) != len(emb):
        raise ValueError(f"{path}: want embeddings (N, d) and labels (N,)")
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return emb, labels


def _psd_factor(cov: F64) -> F64:
    """A factor F with F @ F.T = cov, negative eigenvalues (estimation noise) clipped."""
    cov = (cov + cov.T) / 2.0
    vals, vecs = np.linalg.eigh(cov)
    return np.asarray(vecs * np.sqrt(np.clip(vals, 0.0, None)), dtype=np.float64)


def fit_moments(emb: F32, labels: npt.NDArray[np.str_]) -> FaceModel:
    """Estimate mean, between- and within-person covariances (no tuning)."""
    x = emb.astype(np.float64)
    _, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    n_people, d = len(counts), x.shape[1]
    sums = np.zeros((n_people, d))
    np.add.at(sums, inv, x)
    means = sums / counts[:, None]
    multi = counts[inv] >= 2
    dev = x[multi] - means[inv[multi]]
    dof = int(multi.sum()) - int((counts >= 2).sum())
    within = dev.T @ dev / dof
    mu = means.mean(axis=0)
    centred = means - mu
    # Cov(person mean) = between + within / n_i: subtract the average noise term.
    between = centred.T @ centred / (n_people - 1) - within * float(np.mean(1.0 / counts))
    return FaceModel(mean=mu, between=_psd_factor(between), within=_psd_factor(within))


def sample_people(model: FaceModel, n: int, rng: np.random.Generator) -> People:
    z = rng.standard_normal((n, model.dim))
    centres = model.mean + model.between_scale * (z @ model.between.T)
    sigma = model.spread_sigma
    spread = np.exp(rng.normal(-sigma * sigma / 2.0, sigma, n)) if sigma > 0 else np.ones(n)
    return People(centres=centres, spread=spread)


def sample_faces(model: FaceModel, people: People, person: I64, rng: np.random.Generator) -> F32:
    """One face per entry of ``person`` (indices into ``people``), L2-normalised float32."""
    e = rng.standard_normal((len(person), model.dim))
    scale = model.within_scale * people.spread[person]
    x = people.centres[person] + scale[:, None] * (e @ model.within.T)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


# --- galleries -------------------------------------------------------------------------------

PEOPLE_PER_CHUNK = 200_000


def _chunk_people(
    model: FaceModel, chunk: int, seed: int, mean_images: float
) -> tuple[People, I64]:
    rng = np.random.default_rng([seed, chunk])
    people = sample_people(model, PEOPLE_PER_CHUNK, rng)
    counts = np.minimum(rng.geometric(1.0 / mean_images, PEOPLE_PER_CHUNK), 50)
    return people, counts.astype(np.int64)


def gallery(
    model: FaceModel, n_faces: int, seed: int = 0, mean_images: float = 2.3
) -> Iterator[tuple[F32, I64]]:
    """Yield (embeddings, global person number) chunks of a synthetic gallery of
    ``n_faces`` faces. People have 1 + Geometric images (mean ``mean_images``, at most 50),
    in order, so a person's faces are contiguous. Deterministic for a seed."""
    done = 0
    chunk = 0
    while done < n_faces:
        people, counts = _chunk_people(model, chunk, seed, mean_images)
        person = np.repeat(np.arange(PEOPLE_PER_CHUNK, dtype=np.int64), counts)
        person = person[: n_faces - done]
        rng = np.random.default_rng([seed, chunk, 1])
        for start in range(0, len(person), 250_000):
            part = person[start : start + 250_000]
            yield sample_faces(model, people, part, rng), part + chunk * PEOPLE_PER_CHUNK
        done += len(person)
        chunk += 1


def probes(model: FaceModel, n_probes: int, seed: int = 0, mean_images: float = 2.3) -> F32:
    """One new face (not in the gallery) of each of people 0 .. n_probes-1 of ``gallery``
    (people are drawn independently, so the first ones are a uniform sample)."""
    if n_probes > PEOPLE_PER_CHUNK:
        raise ValueError(f"at most {PEOPLE_PER_CHUNK} probes")
    people, _ = _chunk_people(model, 0, seed, mean_images)
    rng = np.random.default_rng([seed, 0, 2])
    return sample_faces(model, people, np.arange(n_probes, dtype=np.int64), rng)


# --- score distributions -------------------------------------------------------------------


def mated_scores(emb: F32, person: I64, rng: np.random.Generator, cap: int = 8) -> F32:
    """All within-person pair scores, at most ``cap`` images per person (random ones: LFW has
    one person with 530 images who would otherwise dominate)."""
    order = np.argsort(person, kind="stable")
    bounds = np.flatnonzero(np.diff(person[order])) + 1
    out: list[F32] = []
    for group in np.split(order, bounds):
        if len(group) < 2:
            continue
        if len(group) > cap:
            group = rng.choice(group, cap, replace=False)
        g = emb[group]
        s = g @ g.T
        out.append(s[np.triu_indices(len(group), 1)].astype(np.float32))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def impostor_scores(emb: F32, person: I64, rng: np.random.Generator, n: int = 4_000_000) -> F32:
    """Scores of ``n`` random pairs of images of different people."""
    out: list[F32] = []
    need = n
    while need > 0:
        m = min(need * 2, 2_000_000)
        a = rng.integers(0, len(emb), m)
        b = rng.integers(0, len(emb), m)
        keep = person[a] != person[b]
        a, b = a[keep][:need], b[keep][:need]
        out.append(np.einsum("ij,ij->i", emb[a], emb[b]).astype(np.float32))
        need -= len(a)
    return np.concatenate(out)


def summary(scores: F32, impostor: bool) -> dict[str, float]:
    s = np.sort(scores.astype(np.float64))
    row = {
        "n": float(len(s)),
        "mean": float(s.mean()),
        "std": float(s.std()),
        "q01": float(np.quantile(s, 0.01)),
        "q50": float(np.quantile(s, 0.5)),
        "q99": float(np.quantile(s, 0.99)),
    }
    if impostor:
        row["fmr1e-3"] = float(np.quantile(s, 1 - 1e-3))
        row["fmr1e-4"] = float(np.quantile(s, 1 - 1e-4))
    return row


def distributions(
    emb: F32, person: I64, rng: np.random.Generator, n_impostor: int = 4_000_000
) -> dict[str, dict[str, float]]:
    return {
        "mated": summary(mated_scores(emb, person, rng), impostor=False),
        "impostor": summary(impostor_scores(emb, person, rng, n_impostor), impostor=True),
    }


def synthetic_like(model: FaceModel, person: I64, rng: np.random.Generator) -> F32:
    """A synthetic data set with the same images-per-person structure as ``person``."""
    n_people = int(person.max()) + 1
    people = sample_people(model, n_people, rng)
    return sample_faces(model, people, person, rng)


def mates_in_probed_cells(
    emb: F32, person: I64, threshold: float, nlist: int, nprobes: tuple[int, ...], seed: int = 1
) -> list[float]:
    """How hard the data is for an IVF index: cluster ``emb`` into ``nlist`` cells (spherical
    k-means) and, over mated pairs scoring >= ``threshold``, give the share whose second face
    lies in one of the ``nprobe`` cells nearest the first, for each ``nprobe``. Compare real
    and synthetic sets of the same shape: a synthetic set that is easier here would flatter
    every IVF row of the benchmark."""
    import faiss

    kmeans = faiss.Kmeans(emb.shape[1], nlist, niter=20, spherical=True, seed=seed)
    kmeans.train(emb)
    cells = faiss.IndexFlatIP(emb.shape[1])
    cells.add(kmeans.centroids)
    _, nearest = cells.search(emb, max(nprobes))
    order = np.argsort(person, kind="stable")
    firsts: list[I64] = []
    seconds: list[I64] = []
    for group in np.split(order, np.flatnonzero(np.diff(person[order])) + 1):
        group = group[:20]
        if len(group) < 2:
            continue
        a, b = np.nonzero(
            (emb[group] @ emb[group].T >= threshold) & ~np.eye(len(group), dtype=bool)
        )
        firsts.append(group[a])
        seconds.append(group[b])
    a_all, b_all = np.concatenate(firsts), np.concatenate(seconds)
    home = nearest[b_all, 0]
    return [float(np.mean((nearest[a_all, :p] == home[:, None]).any(axis=1))) for p in nprobes]


# --- tuning --------------------------------------------------------------------------------


def _stats(model: FaceModel, person: I64, seed: int, replicas: int = 4) -> F64:
    """The tuning targets (see ``_targets``) of ``replicas`` synthetic copies of the data set
    (common random numbers: one seed gives a smooth function of the scalars)."""
    rng = np.random.default_rng(seed)
    n_people = int(person.max()) + 1
    big = np.concatenate([person + r * n_people for r in range(replicas)])
    emb = synthetic_like(model, big, rng)
    mated = mated_scores(emb, big, np.random.default_rng(seed))
    imp = impostor_scores(emb, big, np.random.default_rng(seed), 300_000)
    return _targets(mated, imp)


def _targets(mated: F32, imp: F32) -> F64:
    """Mated mean and std, impostor mean and std."""
    return np.array([mated.mean(), mated.std(), imp.mean(), imp.std()], dtype=np.float64)


def _with(model: FaceModel, p: F64) -> FaceModel:
    return dataclasses.replace(
        model,
        within_scale=float(p[0]),
        spread_sigma=float(abs(p[1])),
        between_scale=float(p[2]),
    )


def fit(
    emb: F32, labels: npt.NDArray[np.str_], steps: int = 6, seed: int = 0
) -> tuple[FaceModel, I64]:
    """Fit the moments, then tune (within scale, sigma, between scale) so that the
    synthetic ``_targets`` match the real ones in relative least squares (Levenberg-Marquardt,
    finite-difference Jacobian on common random numbers).

    Returns the model and the integer person index of each real image."""
    _, person = np.unique(labels, return_inverse=True)
    person = person.astype(np.int64)
    model = fit_moments(emb, labels)
    rng = np.random.default_rng(seed)
    real_mated = mated_scores(emb, person, rng)
    real_imp = impostor_scores(emb, person, rng, 1_000_000)
    target = _targets(real_mated, real_imp)
    p = np.array([1.0, 0.2, 1.0])
    h = np.array([0.02, 0.05, 0.02])
    weight = 1.0 / np.maximum(np.abs(target) * 0.05, 0.005)  # relative, floor 5e-3 absolute

    def residual(q: F64) -> F64:
        return (_stats(_with(model, q), person, seed + 1) - target) * weight

    f = residual(p)
    damping = 1e-2
    for _ in range(steps):
        jac = np.empty((len(f), len(p)))
        for j in range(len(p)):
            q = p.copy()
            q[j] += h[j]
            jac[:, j] = (residual(q) - f) / h[j]
        for _attempt in range(4):  # Levenberg-Marquardt: shrink the step until it helps
            lhs = jac.T @ jac + damping * np.diag(np.diag(jac.T @ jac) + 1e-9)
            trial = np.abs(p + np.linalg.solve(lhs, -jac.T @ f))
            f_trial = residual(trial)
            if f_trial @ f_trial < f @ f:
                p, f, damping = trial, f_trial, damping / 3
                break
            damping *= 10
        else:
            break
    return _with(model, p), person


# --- stand-in --------------------------------------------------------------------------------


def standin(seed: int = 0, dim: int = 128) -> tuple[F32, npt.NDArray[np.str_]]:
    """An LFW-shaped stand-in (5749 people, 13233 images, skewed counts) for development.

    Anisotropic, with heavy-tailed per-person spread; tuned by eye to SFace-like scores
    (mated ~0.6, impostor ~0.05 +- 0.1). Not a substitute for real embeddings."""
    rng = np.random.default_rng(seed)
    n_people = 5749
    counts = np.ones(n_people, dtype=np.int64)
    multi = rng.choice(n_people, 1680, replace=False)
    counts[multi] = 2 + np.minimum(rng.zipf(1.9, 1680) - 1, 500)
    counts = np.maximum(1, np.round(counts * 13233 / counts.sum())).astype(np.int64)
    person = np.repeat(np.arange(n_people), counts)
    spectrum_b = 1.0 / np.sqrt(1.0 + np.arange(dim) / 6.0)
    spectrum_w = 1.0 / np.sqrt(1.0 + np.arange(dim) / 30.0)
    rot_b = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    rot_w = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    mu = rng.standard_normal(dim) * 0.02
    centres = mu + (rng.standard_normal((n_people, dim)) * spectrum_b) @ rot_b.T * 0.16
    spread = np.exp(rng.normal(0.0, 0.3, n_people)) * 0.062
    e = (rng.standard_normal((len(person), dim)) * spectrum_w) @ rot_w.T
    x = centres[person] + spread[person][:, None] * e
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = np.array([f"person_{p:05d}" for p in person])
    return x.astype(np.float32), labels
