"""External data sources: the user's tables read by contact (personalisation) and by condition (segments)."""
