"""One save / load / push mixin for every artifact (tokenizers, policies, normalization statistics).

An artifact saves to a folder; ``from_pretrained`` reads it back from that folder or from a Hugging Face
Hub repo id (through the local Hub cache first, so offline use of a cached repo works); ``push_to_hub``
uploads the folder. Offline without a cached copy, loading fails at once with a message saying how to
make the artifact available, never a hang.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Any, Self

from vla.errors import UserError

#: Seconds to wait for the Hub before calling it unreachable (huggingface_hub reads these at request time).
HUB_TIMEOUT_S = "10"


class BrokenArtifactError(ValueError, UserError):
    """A saved file that cannot be read (truncated, corrupted, or of an unknown kind): the message names it."""


class HubUnavailableError(OSError, UserError):
    """An artifact is neither a local folder nor reachable on (or cached from) the Hugging Face Hub."""


def _looks_like_repo_id(name: str) -> bool:
    parts = name.split("/")
    return 1 <= len(parts) <= 2 and all(p and not p.startswith(".") for p in parts) and "\\" not in name


def resolve_pretrained(
    name_or_path: str | os.PathLike[str], *, kind: str = "artifact", repo_type: str | None = None
) -> Path:
    """Return a local folder for ``name_or_path``: a folder as-is, or a Hub repo's cached snapshot."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    name = str(name_or_path)
    if path.exists() or not _looks_like_repo_id(name):
        raise FileNotFoundError(f"{kind} {name!r}: no such folder, and it is not a Hub repo id (owner/name)")
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", HUB_TIMEOUT_S)
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", HUB_TIMEOUT_S)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, repo_type=repo_type, local_files_only=True))
    except Exception:
        pass  # not cached: try the network below
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise HubUnavailableError(_offline_message(kind, name, "HF_HUB_OFFLINE is set"))
    try:
        return Path(snapshot_download(name, repo_type=repo_type))
    except Exception as err:  # connection refused, DNS, 404, auth: all end the same way for the user
        raise HubUnavailableError(_offline_message(kind, name, f"{type(err).__name__}: {err}")) from None


def _offline_message(kind: str, name: str, reason: str) -> str:
    first_line = reason.splitlines()[0] if reason else ""
    return (
        f"Cannot load {kind} {name!r}: it is not a local folder, not in the Hugging Face cache, "
        f"and the Hub could not be reached ({first_line[:200]}). To use it offline, either pass the path "
        f"of a local copy, or on a machine with internet run `hf download {name}` and copy "
        "the cache folder (HF_HOME, default ~/.cache/huggingface) here."
    )


def push_folder_to_hub(
    folder: str | os.PathLike[str],
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | None = None,
    commit_message: str = "Upload with vla",
) -> str:
    """Upload ``folder`` to ``repo_id``; without network or token the error says the folder is kept."""
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", HUB_TIMEOUT_S)
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message=commit_message)
    except Exception as err:
        raise HubUnavailableError(
            f"Could not push {str(folder)!r} to the Hub repo {repo_id!r} ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:200] if str(err) else ''}). The folder is kept as it is; "
            "log in with `hf auth login` (or set HF_TOKEN) on a machine with internet and push it "
            f"again with `vla push {folder} --repo-id {repo_id}`."
        ) from None
    return str(getattr(info, "commit_url", info))


def file_sha256(path: Path) -> str:
    """sha256 of a file; a file unchanged since it was last hashed (same size and mtime) is not read again
    (evaluation identifies a checkpoint and checks its integrity from the same multi-GB weights)."""
    stat = Path(path).stat()
    return _file_sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_sha256(folder: Path) -> str:
    """One digest of every file in a folder, names included (an artifact is all of its files)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + file_sha256(path).encode())
    return digest.hexdigest()


#: The file each kind of vla artifact folder is recognised by (each kind's ``_save_pretrained`` writes it:
#: ``vla.model.policy.POLICY_FILE``, ``vla.tokenizers.base.CONFIG_FILE``), most specific first.
ARTIFACT_MARKERS: dict[str, str] = {"policy": "vla_policy.json", "action tokenizer": "action_tokenizer.json"}


def artifact_kind_of(folder: str | os.PathLike[str]) -> str | None:
    """``"policy"`` or ``"action tokenizer"`` for a saved vla artifact folder (by the file it holds);
    ``None`` for anything else."""
    for kind, marker in ARTIFACT_MARKERS.items():
        if (Path(folder) / marker).is_file():
            return kind
    return None


class HubMixin:
    """``save_pretrained`` / ``from_pretrained`` / ``push_to_hub`` for any artifact.

    Subclasses implement ``_save_pretrained(folder)`` and ``_from_pretrained(folder, **kwargs)``.
    """

    #: Used in error messages ("Cannot load action tokenizer ...").
    artifact_kind: str = "artifact"

    def _save_pretrained(self, folder: Path) -> None:
        raise NotImplementedError

    @classmethod
    def _from_pretrained(cls, folder: Path, **kwargs: Any) -> Self:
        raise NotImplementedError

    def save_pretrained(self, save_directory: str | os.PathLike[str], **kwargs: Any) -> Path:
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        self._save_pretrained(folder, **kwargs)
        return folder

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike[str], **kwargs: Any) -> Self:
        return cls._from_pretrained(resolve_pretrained(name_or_path, kind=cls.artifact_kind), **kwargs)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool | None = None,
        token: str | None = None,
        commit_message: str = "Upload with vla",
        staging_dir: str | os.PathLike[str] | None = None,
    ) -> str:
        """Save into ``staging_dir`` (a temporary folder by default) and upload it."""
        if staging_dir is not None:
            folder = self.save_pretrained(staging_dir)
            return push_folder_to_hub(
                folder, repo_id, private=private, token=token, commit_message=commit_message
            )
        with tempfile.TemporaryDirectory(prefix="vla-push-") as tmp:
            folder = self.save_pretrained(tmp)
            return push_folder_to_hub(
                folder, repo_id, private=private, token=token, commit_message=commit_message
            )
