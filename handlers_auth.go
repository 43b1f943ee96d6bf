package rip

// registerAuth registers the account endpoints.
func (a *App) registerAuth() {}
