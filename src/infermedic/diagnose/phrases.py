"""The router's phrase table: the words on-call engineers use, each mapped to the symptom
categories it states and implies, plus the ambiguous words and common typos. Data only; how a
text is read against it is `router.py`."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from infermedic.diagnose.categories import Category

S, P, W, A, F, M = (
    Category.SLOW,
    Category.SPIKES,
    Category.WRONG,
    Category.ACCURACY,
    Category.FAILURES,
    Category.MEMORY,
)


class Role(enum.Enum):
    """How a match takes part in the per-clause rules (module docstring, step 4 and 5)."""

    PLAIN = "plain"
    SLOWNESS = "slowness"  # becomes a latency spike under an intermittency modifier
    WEAK_SPEED = "weak-speed"  # "latency", "400ms": yields to a tail word in its clause
    WEAK_QUALITY = "weak-quality"  # "worse", "degrading": yields to any other symptom
    MODIFIER = "modifier"  # "sometimes", "first requests": names no category by itself
    CRASH = "crash"  # crash / restart / kill: memory words explain it
    MEMORY = "memory"  # an explicit memory word
    NEUTRAL = "neutral"  # claims its words for no category ("grows slowly" is not slowness)
    WEAK_FAILURE = "weak-failure"  # "blows up": a failure alone, a magnitude after a symptom


@dataclass(frozen=True, kw_only=True)
class Signal:
    """One row of the table: a pattern, the categories it states and those it implies."""

    pattern: str
    stated: tuple[Category, ...] = ()
    implied: tuple[Category, ...] = ()
    role: Role = Role.PLAIN
    why: str = ""  # for an implied category: why the words imply it


def _sig(
    pattern: str,
    *stated: Category,
    implied: tuple[Category, ...] = (),
    role: Role = Role.PLAIN,
    why: str = "",
) -> Signal:
    return Signal(pattern=pattern, stated=stated, implied=implied, role=role, why=why)


# What a prediction is called in reports.
_PRED = (
    r"(?:predictions?|predicted (?:values?|class(?:es)?|labels?|probabilit(?:y|ies))|scores?"
    r"|outputs?|results?|answers?|labels?|class(?:es)?|classifications?|probabilit(?:y|ies)"
    r"|forecasts?|recommendations?|embeddings?|translations?|responses?|rankings?|ranks"
    r"|top results|ordering)"
)
_RATE_SHIFT = "the share of a predicted class moved: check the model's accuracy too"
_DATA_CHANGE = "a change in the input data shows first as changed predictions"
_KILLED = "a pod is also killed when its liveness probe fails"
_RESTART = "restarts are often OOM kills"

# Most specific first: a span is claimed by the first pattern that matches it.
SIGNALS: tuple[Signal, ...] = (
    # "degrading slowly" is a gradual change, not a slow service
    _sig(
        r"(?:degrad|decay|deteriorat|declin|worsen)\w* (?:slowly|gradually|steadily)",
        A,
        role=Role.WEAK_QUALITY,
    ),
    _sig(
        r"(?:grow|creep|increas|climb|ris|go|goes|went|drift)\w* (?:up )?(?:slowly|gradually"
        r"|steadily)",
        role=Role.NEUTRAL,
    ),
    # "recovers after a restart": a restart is the remedy, the classic sign of a leak
    _sig(
        r"(?:recovers?|recovered|goes away|went away|fixed|resolves?|resolved|back to normal"
        r"|fine again|better) (?:again )?(?:after|on|with|until|by) (?:a |the |each |every )?"
        r"(?:restart|reboot|redeploy|rollout restart)\w*"
        r"|until (?:we |someone |they |you )?(?:restart|redeploy|reboot|bounce|recycle)\w*",
        implied=(M,),
        role=Role.NEUTRAL,
        why="a restart that cures it points to something that accumulates",
    ),
    # "tags random words", "output looks like random noise": wrong predictions, not a
    # "random" slowness
    _sig(r"(?:tags?|labels?|marks?|classifies|detects?|picks?) random", W),
    _sig(
        rf"{_PRED} (?:look|looks|are|is|seem|seems)(?: \w+)? (?:off|weird|strange|odd|funny"
        r"|wonky|broken|crazy|bizarre|random|different|identical|the same|suspicious|fishy"
        r"|like (?:random )?(?:noise|garbage|nonsense)|shuffled|swapped|mixed up|inverted"
        r"|reversed)"
        rf"|(?:weird|strange|odd|bizarre|unexpected|suspicious) {_PRED}"
        rf"|{_PRED} (?:differ|differs|changed|shifted|moved|flipped|changing|vary)"
        rf"|{_PRED} (?:is|are) always",
        W,
    ),
    # --- intermittency modifiers (turn a slowness in their clause into a spike) ----------
    _sig(
        r"first (?:few |couple of |couple |handful of )?(?:requests?|calls?|queries|hits|"
        r"predictions?|inferences?)",
        role=Role.MODIFIER,
    ),
    _sig(
        r"after (?:each|every|a) (?:deploy|rollout|release|restart|scale[- ]?up|redeploy)\w*",
        role=Role.MODIFIER,
    ),
    _sig(
        r"(?:every|once) (?:now and then|in a while|(?:few|~?\d+|couple of) (?:seconds|s|sec"
        r"|minutes|mins?|hours|h|requests|calls))"
        r"|now and then|from time to time|some (?:of the )?(?:requests|calls)|a few requests"
        r"|sometimes|occasional(?:ly)?|intermittent(?:ly)?|random(?:ly)?|periodic(?:ally)?"
        r"|sporadic(?:ally)?|every so often",
        role=Role.MODIFIER,
    ),
    # --- errors that also say "too slow" -------------------------------------------------
    _sig(
        r"workers? (?:keep |keeps |are |were |getting |get )?(?:timing out|timed out"
        r"|time ?outs?)|504s?|gateway time ?-?outs?",
        F,
        S,
    ),
    # --- memory ---------------------------------------------------------------------------
    _sig(
        r"oom[- ]?kill(?:ed|s|er|ing)?|killed by the (?:kernel )?oom|out[- ]of[- ]memory|oom\w*"
        r"|memoryerror|(?:exit(?:s|ed)? )?(?:with )?(?:exit )?code 137|exit 137"
        r"|memory|mem|ram|rss|heap|swap(?:s|ping)?|leak(?:s|ing|y|ed)?|evict(?:s|ed|ion|ions)?",
        M,
        role=Role.MEMORY,
    ),
    # --- error statuses (before durations: "500s" are responses, not seconds) -----------
    _sig(
        r"5\d\d(?:s)?|5xx(?:s)?|http 5\w\w|4xx(?:s)?|http 4\d\d|4\d\d (?:unprocessable|bad"
        r" request|too many|errors?|responses?|status)|unprocessable|bad request|bad gateway",
        F,
    ),
    # --- crash, restart, kill (memory words explain them) ---------------------------------
    _sig(
        r"crash ?loop\w*|back-?off|restart(?:s|ed|ing)?|reboot(?:s|ing|ed)?",
        F,
        implied=(M,),
        role=Role.CRASH,
        why=_RESTART,
    ),
    _sig(
        r"(?:getting |gets |got |being )?(?:killed|sigkill(?:ed|'d)?|kill -9)",
        M,
        implied=(F,),
        role=Role.CRASH,
        why=_KILLED,
    ),
    _sig(r"crash(?:es|ed|ing)?|errors?|dies|died|dying|die|sigsegv", F, role=Role.CRASH),
    # --- shifts of the predicted-class rate (wrong predictions, and accuracy) ------------
    _sig(
        r"(?:far|way|much|many|a lot|lots|significantly|substantially|noticeably|massively"
        r"|twice as|\d+x) (?:more|fewer|less)"
        r"(?! (?:memory|ram|latency|time|cpu|errors?|requests|traffic|load|timeouts?|5\w\w))",
        W,
        implied=(A,),
        why=_RATE_SHIFT,
    ),
    _sig(r"false (?:positives?|negatives?|alarms?|alerts?)", W, implied=(A,), why=_RATE_SHIFT),
    _sig(
        r"(?:flag|mark|approv|reject|declin|block|classif|predict|label|tag|detect|scor|deny"
        r"|deni)\w* (?:(?:almost|nearly|basically|practically|virtually) (?:all|every|everything"
        r"|everyone|nothing|none|no one)|a ton of|tons of|a lot of|lots of|too many|way too many)",
        W,
        implied=(A,),
        why=_RATE_SHIFT,
    ),
    _sig(
        r"(?:approval|positive|negative|rejection|acceptance|churn|fraud|flag(?:ging)?|detection"
        r"|prediction|hit|default|alert|spam|match) rates?",
        W,
        implied=(A,),
        why=_RATE_SHIFT,
    ),
    _sig(
        r"(?:distribution|mix|share|proportion|balance) of (?:the )?(?:predict\w*|classes"
        r"|labels|scores)|(?:prediction|score|label|class) (?:distribution|mix|balance|histogram)",
        W,
        implied=(A,),
        why=_RATE_SHIFT,
    ),
    _sig(
        rf"{_PRED} (?:are |is |look |looks |seem |seems |got |went )?(?:much |way |a lot "
        r"|suspiciously |unusually |too |really |significantly )?(?:higher|lower|inflated"
        r"|deflated)|(?:suspiciously|unusually|way too) (?:low|high)",
        W,
        implied=(A,),
        why=_RATE_SHIFT,
    ),
    # --- the input data changed (accuracy, and wrong predictions) ------------------------
    _sig(
        r"(?:data |feature |concept |covariate |input |label )?drift(?:s|ed|ing)?"
        r"|(?:input|feature|data|covariate) (?:distribution|shift)\w*"
        r"|distribution (?:shift|change|moved)\w*|(?:shift|change)\w* in (?:the )?"
        r"(?:input|feature|data)\w*"
        r"|features?(?: values?)? (?:look|looks|are|seem|seems) (?:different|off|weird|strange)"
        r"|(?:new|changed|different|updated) (?:data |feature |etl |ingestion )?(?:pipeline"
        r"|etl|feature store|data source|upstream)"
        r"|(?:upstream|input|data) schema|schema (?:change|drift|mismatch)\w*"
        r"|renamed (?:some |a few |the )?(?:columns?|fields?|features?)"
        r"|(?:columns?|fields?|features?) (?:renamed|missing|changed|dropped|reordered)"
        r"|(?:come|comes|coming|arrive|arrives|arriving) (?:in )?as"
        r"|(?:dtype|encoding|units?) (?:change|differ)\w*"
        r"|(?:data |etl |ingestion |feature )?(?:pipeline|etl|upstream|feature store|ingestion)"
        r" (?:change|update|migration|bug|rewrite)\w*"
        r"|(?:null|missing|empty|nan) values in (?:the )?\w+ (?:column|field|feature)"
        r"|(?:feature|column|field|values?)\b[^.,;]{0,40}\b(?:instead of|is now in|are now in)",
        A,
        implied=(W,),
        why=_DATA_CHANGE,
    ),
    # --- wrong predictions ----------------------------------------------------------------
    _sig(r"empty (?:body|bodies|response|responses|result|results|payload)", F, W),
    _sig(
        r"wrong|incorrect|garbage|junk|rubbish|useless|meaningless|nonsens\w*|gibberish"
        r"|random noise|(?:repeats?|repeating) the same|swapped|shuffled|mixed up"
        r"|makes? no sense|irrelevant|bogus|absurd|off by (?:an order|orders|a factor|\d)"
        r"|no matter (?:what|which|the input)|(?:come|comes|coming) back as"
        r"|bad (?:predictions?|results?|outputs?|scores?|answers?|recommendations?"
        r"|classifications?|labels?)",
        W,
    ),
    _sig(
        r"(?:returns?|returning|outputs?|gives?|predicts?|produces?|spits? out) (?:a |an )?"
        r"(?:nan|nans|null|none|inf|infinity|negative|zeros?|empty)"
        r"|(?:all|always|only) (?:zeros?|nans?|nulls?|0|0\.\d+|1\.0|the same|identical|constant)"
        rf"|{_PRED} (?:contains?|containing|with|has|have|having) (?:a |an )?(?:nan|nans|null"
        r"|nulls|inf|infinity)\b"
        r"|all (?:look|are|seem)(?: \w+)? (?:identical|the same|constant)"
        r"|(?:same|identical|one) (?:[\w.()%'-]+ ){0,3}(?:for|to) (?:literally |basically "
        r"|almost )?"
        r"(?:every|all|each)\w*"
        r"|for (?:literally |basically )?(?:every|each) (?:input|row|request|user|customer"
        r"|record|example|sample|payload|item|query)"
        r"|says (?:everything|every \w+|all \w+) (?:is|are)"
        r"|(?:returns?|returning|gives?|giving|predicts?|predicting|outputs?|says?|scores?)"
        r" (?:[\w.()%'-]+ ){0,3}for (?:literally |basically |almost )?(?:everything|everyone"
        r"|everybody|all|every \w+)"
        r"|(?:is|are) (?:exactly |always |just |basically )?the (?:training |global |same )?"
        r"(?:mean|average|prior|default value|base rate)",
        W,
    ),
    _sig(
        r"different (?:predictions?|results?|answers?|scores?|outputs?|labels?|class(?:es)?"
        r"|values|probabilities|numbers)"
        r"|differs? (?:between|across|from)|differen\w+ between"
        r"|(?:don't|doesn't|didn't|do not|does not|did not|won't) (?:match|agree|sum|add up)"
        r"|mismatch\w*|!=|inconsistent|non-?deterministic|not deterministic|flip-?flop\w*"
        r"|for the same (?:input|payload|request|row|customer|user|record|example|data"
        r"|features|image|text)",
        W,
    ),
    _sig(
        r"(?:model|artifact|served|pinned|registry|older|old|newer|wrong|different) versions?"
        r"|versions? (?:mismatch|skew|differ\w*|drift)|older (?:model|artifact|checkpoint)"
        r"|train(?:ing)?[/ -](?:serving|serve|inference|prod)|skew(?:ed)?"
        r"|offline\b.{0,60}\bonline|online\b.{0,60}\boffline"
        r"|(?:in|on) (?:training|the notebook|eval|dev|staging)\b.{0,50}\b(?:in|on) (?:prod"
        r"|production)\b",
        W,
    ),
    # --- accuracy -------------------------------------------------------------------------
    _sig(
        r"accuracy|auc|roc|precision|recall|f1|f-?score|ndcg|map@\d+|rmse|mape|log ?loss"
        r"|calibration|conversions?(?: rates?)?|ctr|click[- ]?through(?: rates?)?"
        r"|(?:model|prediction) quality|stale|outdated"
        r"|trained (?:\w+ ){0,3}(?:last year|ago|months ago)"
        r"|(?:metrics?|kpis?|evals?|evaluation) (?:dropped|fell|tanked|down|regressed|worse)",
        A,
    ),
    _sig(r"worse|degrad\w*|decay\w*|deteriorat\w*|quality", A, role=Role.WEAK_QUALITY),
    # --- latency spikes -------------------------------------------------------------------
    _sig(
        r"\d+(?:\.\d+)?x (?:the )?(?:median|p50|average|mean)"
        r"|(?:max|maximum|worst[- ]case) (?:latency|latencies|response times?)",
        P,
    ),
    _sig(
        r"spik(?:e|es|y|ing)|p9\d+(?:\.\d+)?|tail(?: latency| latencies)?|jitter\w*"
        r"|varian\w*|variab\w*|stall(?:s|ed|ing)?|cold ?starts?|warm ?-?ups?"
        r"|gc pauses?|garbage collect\w*|pauses?|unpredictable|percentiles?|freez\w*|froze"
        r"|hiccups?|blips?",
        P,
    ),
    # --- slow inference -------------------------------------------------------------------
    _sig(
        r"p50|median|throughput|rps|qps|req/s|tps"
        r"|(?:requests?|predictions?|inferences?|calls|queries|rows) per (?:second|sec|s)"
        r"|(?:most|all|half) of (?:its|the) time|eat(?:s|ing)? (?:all|most of) the (?:time|cpu)"
        r"|bottleneck\w*|cpu (?:is )?(?:pegged|maxed|saturated|at 100)"
        r"|(?:can't|cannot|can not|unable to) keep up",
        S,
    ),
    _sig(
        r"slow(?:er|ness|down|downs)?|sluggish|(?:takes?|took|taking) (?:too |very |so )?"
        r"(?:long|forever|ages)|forever|for ages"
        r"|time ?-?outs?|timed out|timing out|times? out"
        r"|hang(?:s|ing)?|hung|lag(?:s|gy|ging)?|slowly"
        r"|(?:stops?|stopped) responding|not responding|unresponsive"
        r"|queu(?:e|es|ed|eing|ing) up|queueing|queuing|backlog|pil(?:e|es|ing) up",
        S,
        role=Role.SLOWNESS,
    ),
    _sig(
        r"latenc(?:y|ies)|response ?times?|\d+(?:\.\d+)?\+?\s?(?:ms|s|sec|secs|seconds?|minutes?"
        r"|mins?)|(?:hundreds|tens|thousands|several|a few|a couple|many|a couple of) (?:of )?"
        r"(?:milli)?seconds",
        S,
        role=Role.WEAK_SPEED,
    ),
    # --- failures -------------------------------------------------------------------------
    _sig(r"blows? up|blew up|blowing up|explod\w*", F, role=Role.WEAK_FAILURE),
    _sig(
        r"(?:value|key|type|runtime|attribute|index|import|module|os|assertion|zero ?division"
        r"|name|http|connection|recursion|unpickling|pickling)error"
        r"|exceptions?|throws?|thrown|traceback|stack ?traces?|segfault\w*|segmentation fault"
        r"|core dump\w*|connection (?:refused|resets?|closed|aborted|errors?|drops?)"
        r"|reset by peer|broken pipe|refused|unavailable|outage"
        r"|fail(?:s|ed|ing|ures?)?|flak(?:y|iness)|falls? over|fell over"
        r"|(?:requests?|connections?|calls) (?:are |were |get |gets |being |getting )*dropped"
        r"|(?:won't|doesn't|does not|can't|cannot|fails? to|never) (?:start|boot|come up"
        r"|becomes? ready)|not ready|unready|broken (?:pipe|endpoint|api|service|deployment)"
        r"|(?:endpoint|api|service|server|deployment|pod|container)s? (?:is |are |got |seems )?"
        r"broken",
        F,
    ),
)

# Words that name no single category: run both the speed and the accuracy checks.
AMBIGUOUS = (
    r"performance",
    r"bad",
    r"broken model",
    r"not working",
    r"issues?",
    r"problems?",
    r"weird behaviou?r",
    r"off",
    r"behaves? differently",
    r"acting up",
    r"help",
)
AMBIGUOUS_CATEGORIES = (Category.SLOW, Category.SPIKES, Category.ACCURACY, Category.WRONG)

# Common misspellings and glued words in incident reports.
TYPOS: tuple[tuple[str, str], ...] = (
    (r"lat[ae]n?c[ey]y?|lantency|latnecy|latencey|latecny", "latency"),
    (r"lat[ae]ncies|latenices", "latencies"),
    (r"mem+or+y|memroy|meomry|memeory|memmory", "memory"),
    (r"ac+u+r+a+c+e?y|accuarcy|accruacy|acuracy|accurcy", "accuracy"),
    (r"predicit?ions?|predcitions?|preditions?|predictons?|prdictions?|predicitons?", "prediction"),
    (r"droped", "dropped"),
    (r"perfomance|preformance|performace|perf", "performance"),
    (r"tim(?:e)?out(s)?", r"timeout\1"),
    (r"reqs", "requests"),
    (r"resp", "response"),
    (r"coldstarts?", "cold start"),
    (r"thru", "through"),
    (r"preds", "predictions"),
    (r"pred", "prediction"),
    (r"sus", "suspicious"),
    (r"oom'?d", "oom killed"),
)
