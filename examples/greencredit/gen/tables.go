package gen

// An industry is one section of GB/T 4754-2017 (国民经济行业分类) with the
// parameters the generator draws its enterprises from.
type industry struct {
	letter string
	// weight is the share of enterprises, in 1/10000.
	weight int
	// kwh is the median monthly electricity use in kWh, before the global
	// scale kwhScale.
	kwh float64
	// winter is the amplitude of the yearly cosine in electricity use,
	// peaking in January (heating) when positive and in July (irrigation,
	// cooling) when negative.
	winter float64
	// loan multiplies the median loan amount.
	loan float64
	// green is the probability that a loan is flagged green.
	green float64
	// words are the business words of enterprise names.
	words []string
}

// industries lists the 20 sections A–T, skewed as a regional economy is:
// wholesale and retail (F) and business services (L) are many, international
// organisations (T) a handful.
var industries = []industry{
	{"A", 400, 120_000, -0.30, 0.8, 0.45, []string{"农业", "牧业", "农牧", "林果", "棉业", "种业"}},
	{"B", 80, 2_000_000, 0.05, 3.0, 0.15, []string{"矿业", "煤业", "石油", "油气", "矿产"}},
	{"C", 900, 700_000, 0.08, 1.5, 0.35, []string{"制造", "机械", "化工", "纺织", "食品", "新材料", "建材"}},
	{"D", 120, 1_500_000, 0.20, 3.0, 0.70, []string{"电力", "新能源", "光伏", "风电", "热力", "燃气"}},
	{"E", 900, 220_000, -0.15, 1.3, 0.30, []string{"建设", "建工", "建筑", "路桥", "安装"}},
	{"F", 2800, 90_000, 0.10, 0.7, 0.27, []string{"商贸", "贸易", "物资", "百货", "商行"}},
	{"G", 450, 250_000, 0.10, 1.2, 0.35, []string{"物流", "运输", "储运", "供应链"}},
	{"H", 500, 70_000, 0.05, 0.6, 0.25, []string{"餐饮", "酒店", "宾馆", "饮食"}},
	{"I", 450, 110_000, 0.05, 0.9, 0.25, []string{"科技", "信息", "网络", "软件", "数据"}},
	{"J", 100, 60_000, 0.05, 2.0, 0.25, []string{"投资", "担保", "小额贷款"}},
	{"K", 350, 130_000, 0.15, 2.0, 0.20, []string{"房地产", "置业", "地产"}},
	{"L", 1300, 60_000, 0.08, 0.8, 0.25, []string{"商务", "咨询", "租赁", "管理"}},
	{"M", 900, 80_000, 0.08, 0.9, 0.30, []string{"技术", "检测", "设计", "勘察"}},
	{"N", 100, 200_000, 0.05, 1.5, 0.65, []string{"环保", "水务", "环境", "园林"}},
	{"O", 250, 40_000, 0.10, 0.5, 0.25, []string{"家政", "维修", "洗涤"}},
	{"P", 100, 90_000, 0.20, 0.7, 0.25, []string{"教育", "培训"}},
	{"Q", 50, 130_000, 0.15, 1.0, 0.25, []string{"医疗", "健康", "医药"}},
	{"R", 200, 60_000, 0.05, 0.8, 0.25, []string{"文化", "传媒", "体育", "旅游"}},
	{"S", 48, 50_000, 0.15, 0.8, 0.25, []string{"社区服务", "公共服务"}},
	{"T", 2, 30_000, 0.10, 1.0, 0.25, []string{"国际合作"}},
}

// kwhScale brings the median monthly electricity use over all enterprises
// to about 200,000 kWh.
const kwhScale = 1.8

// A region is one of Xinjiang's 14 prefecture-level divisions.
type region struct {
	name string // as in the registry's region column
	// code is the GB/T 2260 division code of the prefecture.
	code string
	// weight is the share of enterprises, in 1/10000.
	weight int
}

// regions lists the prefecture-level divisions of the Xinjiang Uygur
// Autonomous Region in the order of SCENARIO.md, weighted roughly by the
// size of their economies: 乌鲁木齐 the largest, 克孜勒苏 the smallest.
var regions = []region{
	{"乌鲁木齐", "650100", 3000},
	{"克拉玛依", "650200", 500},
	{"吐鲁番", "650400", 350},
	{"哈密", "650500", 450},
	{"昌吉", "652300", 1000},
	{"博尔塔拉", "652700", 250},
	{"巴音郭楞", "652800", 700},
	{"阿克苏", "652900", 700},
	{"克孜勒苏", "653000", 100},
	{"喀什", "653100", 800},
	{"和田", "653200", 400},
	{"伊犁", "654000", 1000},
	{"塔城", "654200", 450},
	{"阿勒泰", "654300", 300},
}

// tradeChars are the characters of trade names (字号), three per name.
var tradeChars = []string{
	"天", "山", "金", "泰", "华", "恒", "瑞", "丰", "鑫", "源", "昌", "隆", "盛", "达", "宏", "远",
	"新", "汇", "通", "博", "康", "安", "中", "正", "和", "信", "德", "嘉", "诚", "益", "兴", "荣",
	"辉", "明", "光", "大", "东", "西", "南", "北", "雪", "莲", "胡", "杨", "棉", "石", "丝", "路",
	"驼", "铃", "绿", "洲", "星", "月", "海", "云", "峰", "银", "宝", "利", "顺", "祥", "福", "永",
}

// Name suffixes by organisation category.
const (
	suffixCompany     = "有限公司"
	suffixCompanyLtd  = "有限责任公司"
	suffixCompanyJSC  = "股份有限公司"
	suffixCooperative = "农民专业合作社"
)

// loanCounts are the weights, in percent, of 1 to 5 loans for an
// enterprise that borrows.
var loanCounts = [5]int{45, 25, 15, 10, 5}
