STACK ?= stg
OUT   ?= build/render/$(STACK)

.PHONY: tools test preview render fmt vet

tools:
	bash scripts/tools.sh --all

test:
	bash scripts/test.sh

preview:
	bash scripts/preview.sh $(STACK)

render:
	go run ./cmd/pm4ml render --stack $(STACK) --out $(OUT)

fmt:
	go fmt ./...

vet:
	go vet ./...
