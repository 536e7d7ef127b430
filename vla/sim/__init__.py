"""The LIBERO simulator: offline set-up, headless rendering and a thin environment wrapper."""
