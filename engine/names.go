package engine

import (
	"crypto/rand"
	"math/big"
)

// Docker-style generated names: adjective_surname. The lists are short on
// purpose; a clash is retried by the caller.
var (
	nameLeft  = []string{"admiring", "brave", "clever", "dazzling", "eager", "festive", "gallant", "happy", "jolly", "keen", "lucid", "modest", "nifty", "optimistic", "pensive", "quirky", "relaxed", "serene", "tender", "upbeat", "vibrant", "wizardly", "youthful", "zealous"}
	nameRight = []string{"archimedes", "babbage", "curie", "dijkstra", "euler", "feynman", "gauss", "hopper", "hypatia", "kepler", "lamport", "lovelace", "meitner", "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak"}
)

func randomName() string {
	return pick(nameLeft) + "_" + pick(nameRight)
}

func pick(s []string) string {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(s))))
	if err != nil {
		return s[0]
	}
	return s[n.Int64()]
}
