"""Local files: allowed roots, media sniffing, uploads, saves. Knows no MCP."""

from atlas_mcp_py.files.addresses import AddressGuard, Resolver, is_public
from atlas_mcp_py.files.downloads import save_video
from atlas_mcp_py.files.media import HEAD_BYTES, decode_data_url, media_type_for
from atlas_mcp_py.files.roots import AllowedRoots, frame_source, too_broad
from atlas_mcp_py.files.saves import (
    IMAGE_EXTENSIONS,
    OVERWRITE_HINT,
    VIDEO_EXTENSIONS,
    SavedFile,
    SavePlan,
    default_stem,
    numbered,
    plan_save,
    save_bytes,
)
from atlas_mcp_py.files.uploads import (
    UploadCache,
    UploadResult,
    UploadSource,
    prepare_upload,
    upload_file,
)

__all__ = [
    "HEAD_BYTES",
    "IMAGE_EXTENSIONS",
    "OVERWRITE_HINT",
    "VIDEO_EXTENSIONS",
    "AddressGuard",
    "AllowedRoots",
    "Resolver",
    "SavePlan",
    "SavedFile",
    "UploadCache",
    "UploadResult",
    "UploadSource",
    "decode_data_url",
    "default_stem",
    "frame_source",
    "is_public",
    "media_type_for",
    "numbered",
    "plan_save",
    "prepare_upload",
    "save_bytes",
    "save_video",
    "too_broad",
    "upload_file",
]
