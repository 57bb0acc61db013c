"""Views: the producers of images and scalars for one logged step (feature maps, timelines,
PCA-RGB, embeddings, explanations)."""
