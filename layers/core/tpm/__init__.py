"""tpm: therapy practice management. The core package shared by every Lambda function
and by the local runtime (`tpm dev`). See ARCHITECTURE in docs/ for the layers."""

__version__ = "0.1.0"
