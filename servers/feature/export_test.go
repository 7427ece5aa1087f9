package feature

// LentAnswers is how many answers' memory is lent to the codec and not
// yet given back: 0 once every call is answered.
func LentAnswers() int64 { return lentCount.Load() }
