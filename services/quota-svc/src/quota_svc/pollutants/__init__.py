"""Pollutants under total-quantity control (总量控制污染物): VOCs, NOx, COD, NH3-N."""
