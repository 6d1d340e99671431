package policy

import (
	"fmt"
	"strings"
	"time"
)

// AnswerDays is how many working days a provider has to answer an
// application for conditional sharing (Art. 34).
const AnswerDays = 10

// Application is the body of an application statement, signed by the
// applicant (Art. 34): it asks the holder of a conditionally shared
// dataset for it, for a purpose. The holder must answer within AnswerDays
// working days; an approved application is what lets the holder
// countersign a commitment letter of that applicant naming the dataset.
type Application struct {
	ID        string `json:"id"`
	Applicant string `json:"applicant"`
	Dataset   string `json:"dataset"`
	Purpose   string `json:"purpose"`
}

// Validate checks the application's form.
func (a *Application) Validate() error {
	if !letterIDRE.MatchString(a.ID) {
		return fmt.Errorf("application: invalid id %q (Art. 34)", a.ID)
	}
	if !ValidPartyName(a.Applicant) {
		return fmt.Errorf("application %s: invalid applicant %q (Art. 34)", a.ID, a.Applicant)
	}
	if strings.TrimSpace(a.Purpose) == "" {
		return fmt.Errorf("application %s: state the purpose (Art. 34)", a.ID)
	}
	return nil
}

// Answer is the body of an application-answer statement, signed by the
// dataset's holder (Art. 34): an approval carries the conditions of the
// sharing, a refusal its reason.
type Answer struct {
	Application string `json:"application"`
	Approve     bool   `json:"approve"`
	Conditions  string `json:"conditions,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// Validate checks the answer's form.
func (a *Answer) Validate() error {
	switch {
	case a.Approve && strings.TrimSpace(a.Conditions) == "":
		return fmt.Errorf("answer to application %s: an approval states the conditions of the sharing (Art. 34)", a.Application)
	case !a.Approve && strings.TrimSpace(a.Reason) == "":
		return fmt.Errorf("answer to application %s: a refusal must give its reason (Art. 34)", a.Application)
	}
	return nil
}

// ApplicationState is an application as the state holds it.
type ApplicationState struct {
	Application Application `json:"application"`
	// Holder is the dataset's holder, who must answer.
	Holder   string    `json:"holder"`
	Filed    time.Time `json:"filed"`
	Deadline time.Time `json:"deadline"`
	// Answer and Answered are set once the holder answered; Late says it
	// was after the deadline.
	Answer   *Answer   `json:"answer,omitempty"`
	Answered time.Time `json:"answered,omitempty"`
	Late     bool      `json:"late,omitempty"`
}

// Overdue reports whether the application is unanswered past its
// deadline at t.
func (s *ApplicationState) Overdue(t time.Time) bool {
	return s.Answer == nil && !t.Before(s.Deadline)
}

// Approved reports whether the holder approved the application.
func (s *ApplicationState) Approved() bool { return s.Answer != nil && s.Answer.Approve }
