"""The text-matched dataset (paper Section 4.3): nearest LAION captions to ImageNet's texts."""
