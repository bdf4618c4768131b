"""The sales a model learns from (``dataset.sales``): read by training, the dashboard's reference facts and the
traffic simulator, so it belongs to none of them."""
