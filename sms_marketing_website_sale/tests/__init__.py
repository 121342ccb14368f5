from . import test_abandoned_carts, test_i18n, test_product_views
