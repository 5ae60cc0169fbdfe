module github.com/sandagent/sandagent

go 1.25.0

require (
	connectrpc.com/connect v1.21.0
	github.com/stretchr/testify v1.12.1
	google.golang.org/protobuf v1.36.12
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect
