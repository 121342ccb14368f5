from . import sale_order, website_track
