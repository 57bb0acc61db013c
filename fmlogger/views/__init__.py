"""Views: the producers of images and scalars for one logged step, all with one protocol.

``base`` defines it (``View``: ``prepare``, ``compute`` on the training thread, ``produce`` in
numpy), ``pipeline`` runs views into a sink (inline or on the background worker), ``options``
resolves ``FeatureMapLogger``'s option groups and flat keywords. The views: ``feature_maps``,
``timelines``, ``pca_rgb``, ``explanations`` (saliency, Grad-CAM, activation maximization) and
``embeddings`` (Projector entries and scatter plots).

Example:
    >>> from fmlogger.views.timelines import TimelineSettings
    >>> TimelineSettings(max_rows=8)
    TimelineSettings(max_rows=8, max_channels=16)
"""
