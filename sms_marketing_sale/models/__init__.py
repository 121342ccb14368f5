from . import account_move, sale_order
