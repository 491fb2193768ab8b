"""Environmental performance grading (环保绩效分级), the guarantee list
(保障性清单), per-plant plans (一厂一策) and the emergency policy table."""
