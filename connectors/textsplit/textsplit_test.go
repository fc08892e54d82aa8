package textsplit_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/palyra/palyra/connectors/textsplit"
)

func TestShortTextIsOnePart(t *testing.T) {
	if got := textsplit.Split("hello", 2000); len(got) != 1 || got[0] != "hello" {
		t.Fatalf("got %q", got)
	}
}

func TestPartsFitAndKeepEveryWord(t *testing.T) {
	words := strings.Repeat("lorem ipsum dolor sit amet ", 400)
	parts := textsplit.Split(words, 2000)
	if len(parts) < 5 {
		t.Fatalf("%d parts", len(parts))
	}
	for i, p := range parts {
		if n := utf8.RuneCountInString(p); n > 2000 {
			t.Fatalf("part %d has %d runes", i, n)
		}
	}
	if strings.Join(strings.Fields(strings.Join(parts, " ")), " ") != strings.Join(strings.Fields(words), " ") {
		t.Fatal("words lost or changed")
	}
	if strings.HasPrefix(parts[1], " ") || strings.HasSuffix(parts[0], "lor") {
		t.Fatalf("cut inside a word: %q", parts[0][len(parts[0])-10:])
	}
}

func TestCodeFencesStayBalanced(t *testing.T) {
	var b strings.Builder
	b.WriteString("Here is the log:\n```go\n")
	for i := range 300 {
		b.WriteString("fmt.Println(\"line ")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString("\")\n")
	}
	b.WriteString("```\nThat was it.")
	parts := textsplit.Split(b.String(), 500)
	if len(parts) < 3 {
		t.Fatalf("%d parts", len(parts))
	}
	for i, p := range parts {
		if n := utf8.RuneCountInString(p); n > 500 {
			t.Fatalf("part %d has %d runes", i, n)
		}
		if strings.Count(p, "```")%2 != 0 {
			t.Fatalf("part %d has unbalanced fences:\n%s", i, p)
		}
		if i > 0 && i < len(parts)-1 && !strings.HasPrefix(p, "```go\n") {
			t.Fatalf("part %d does not reopen the block with its language:\n%s", i, p)
		}
	}
	if !strings.HasSuffix(parts[len(parts)-1], "That was it.") {
		t.Fatal("the tail was lost")
	}
}

func TestNoBreaksStillSplitsAndCountsRunes(t *testing.T) {
	text := strings.Repeat("ж", 4500)
	parts := textsplit.Split(text, 2000)
	if len(parts) != 3 || strings.Join(parts, "") != text {
		t.Fatalf("%d parts", len(parts))
	}
}
