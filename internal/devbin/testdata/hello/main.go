// Command hello is the program devbin's test builds.
package main

import "fmt"

func main() { fmt.Println("hello") }
