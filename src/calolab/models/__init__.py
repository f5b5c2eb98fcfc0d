"""Models: image classifiers (small CNN, ResNet-18/34); the regression models of issue 3.

Importing a model module needs PyTorch (``pip install 'calolab[ml]'``).
"""
