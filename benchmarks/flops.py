"""FLOPs of one request, from the layer shapes the converter records.

Counts multiply-adds as two FLOPs and ignores bias adds, activations and
lookups, so it is a lower bound on the work. ``architecture`` is the manifest's
``architecture`` entry: embedding sizes and the dense layers' kernel shapes
(none for AutoRec, whose rating is the dot product of the two rows).
"""

from __future__ import annotations


def request_flops(architecture: dict, candidates: int, user_side_once: bool) -> int:
    """FLOPs to score one user against ``candidates`` titles.

    Args:
        architecture: ``{"user_embedding": d_u, "title_embedding": d_m,
            "dense": [[in, out], …]}``.
        candidates: N.
        user_side_once: True for the edge ``score`` signature, which multiplies
            the user's half of the first kernel once per request; False for the
            SavedModel's pairwise ``serving_default``, which does it per pair.
    """
    if not architecture["dense"]:
        return candidates * 2 * architecture["title_embedding"]
    (first_in, first_out), *rest = architecture["dense"]
    user, title = architecture["user_embedding"], architecture["title_embedding"]
    deeper = sum(2 * fan_in * fan_out for fan_in, fan_out in rest)
    if user_side_once:
        return 2 * user * first_out + candidates * (2 * title * first_out + deeper)
    return candidates * (2 * first_in * first_out + deeper)
