package dp_test

import (
	"testing"

	"github.com/xjdata/cleanroom/protocols/dp/dptest"
)

func TestMain(m *testing.M) { dptest.Main(m) }
