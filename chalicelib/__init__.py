"""ShopPulse's model: everything the Lambda functions and the API need. Never imports pandas."""
