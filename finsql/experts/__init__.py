"""Domain experts: training adapters on question/SQL pairs and composing them."""
