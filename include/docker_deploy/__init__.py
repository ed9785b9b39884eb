"""Deploy target ``docker``: serving images (``images``) and the container switch (``target``)."""
