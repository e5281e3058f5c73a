"""From a symptom in the user's words to the categories of causes worth checking.

Routing is a table of phrase patterns, on purpose: the symptom vocabulary of on-call
engineers is small and stable ("p99", "slow", "OOMKilled", "504s", "wrong class", "drift"),
and a table is inspectable: the report says which words matched which category, so a
misrouting is visible and fixable. No model, no network.

How a text is read:
1. Normalised: lowercase, straight quotes, common typos ("latancy", "memmory") and
   glued words ("ReadTimeout", "coldstart") fixed.
2. Split into clauses (at punctuation and at "and"/"but"/"while"), because a modifier such as
   "sometimes" or "first requests" or a negation such as "no errors" reaches only its clause.
3. Each pattern of the table is looked for, most specific first; a span of text is claimed by
   the first pattern that matches it ("10x the median" is a spike, not a median).
4. Per clause: a negated match is ignored ("memory looks flat", "no 5xx"); a slowness under an
   intermittency modifier is a latency spike ("sometimes slow", "first request takes 30 s");
   a generic speed word ("latency", "400ms") gives way to a tail word ("p99 latency"); a
   generic quality word ("worse") gives way to any named symptom ("latency got worse").
5. A crash, restart or kill that memory words explain ("OOM errors", "restarts once memory
   is full") is memory, not a generic failure.

Categories come in two kinds: `stated`, named by the user's words, and implied, added because
the words fit more than one ("the pod keeps getting killed": memory stated, a liveness kill
implied) or because a stated change explains another ("far more customers flagged": wrong
predictions stated, an accuracy drop implied).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field


class Category(enum.StrEnum):
    """The six symptom categories of the field checklist."""

    SLOW = "slow-inference"
    SPIKES = "latency-spikes"
    WRONG = "wrong-predictions"
    ACCURACY = "accuracy-drop"
    FAILURES = "intermittent-failures"
    MEMORY = "oom-memory"

    @property
    def label(self) -> str:
        return CATEGORY_TITLES[self]


CATEGORY_TITLES = {
    Category.SLOW: "slow inference",
    Category.SPIKES: "latency variance / spikes (p99 ≫ p50)",
    Category.WRONG: "wrong predictions",
    Category.ACCURACY: "accuracy drop",
    Category.FAILURES: "intermittent failures / 5xx",
    Category.MEMORY: "OOM / memory growth",
}

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
_TYPOS: tuple[tuple[str, str], ...] = (
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
_NEGATORS = frozenset(
    {"no", "not", "never", "without", "zero", "none", "nothing", "nobody", "isn't", "aren't"}
)
_FINE_AFTER = re.compile(
    r"^\W*(?:\w+\W+){0,2}?(?:is|are|was|were|looks?|seems?|stays?|remains?|still)?\W*"
    r"(?:fine|ok|okay|normal|flat|stable|good|healthy|unchanged|as expected|constant)\b"
    # "fine for small payloads" is a condition, not a denial: the symptom holds elsewhere
    r"(?!\s+(?:for|with|on|in|when|until|at|offline|locally|during|if|unless)\b)"
)
_CLAUSE_BREAK = re.compile(r"[.;:!?,()\[\]]+(?:\s|$)|\s(?:and|but|while|though|although|yet)\s")


@dataclass(frozen=True, kw_only=True)
class Hit:
    """One pattern match: the words, the signal, and whether a negation cancels it."""

    words: str
    signal: Signal
    clause: int
    negated: bool = False


@dataclass(frozen=True, kw_only=True)
class Route:
    """Where a symptom was routed, and why (the words that matched).

    `categories` is every category to check, in `Category` order; `stated` are those the
    user's words name directly (the rest were implied, or the text was ambiguous), so a
    ranking can put the causes of a stated symptom first. `ignored` are matched words that a
    negation cancelled ("no 5xx", "memory looks flat").
    """

    symptom: str
    categories: tuple[Category, ...]
    matched: dict[Category, tuple[str, ...]]
    reason: str
    stated: tuple[Category, ...] = ()
    implied: dict[Category, str] = field(default_factory=dict)  # category -> why
    ignored: tuple[str, ...] = ()


def normalise(text: str) -> str:
    """Lowercase, straight quotes, single spaces, common typos and glued words fixed."""
    text = re.sub(r"[A-Za-z]+", _split_camel, text)
    lowered = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    lowered = lowered.replace("\u201c", '"').replace("\u201d", '"').replace("\u2013", "-")
    lowered = re.sub(r"(?<=[a-z])(?=timeouts?\b)", " ", lowered)  # ReadTimeout -> read timeout
    lowered = re.sub(r"[\w.]*outofmemory(?:error)?", " out of memory ", lowered)
    for wrong, right in _TYPOS:
        lowered = re.sub(rf"(?<![\w])(?:{wrong})(?![\w])", right, lowered)
    return re.sub(r"\s+", " ", lowered).strip()


def _split_camel(match: re.Match[str]) -> str:
    """Alert names: "KubeContainerOOMKilled" -> "Kube Container OOM Killed". Exception names
    stay whole ("KeyError" is matched as one word), and so do "NaN" and "iOS"."""
    word = match.group(0)
    if word.endswith(("Error", "Exception", "Warning")):
        return word
    return re.sub(r"(?<=[a-z]{2})(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z]{2})", " ", word)


def route(symptom: str | None) -> Route:
    """Route free text to categories. No symptom: every category. Unmatched or ambiguous
    text: the speed and accuracy categories, with the reason said."""
    text = (symptom or "").strip()
    if not text:
        return Route(
            symptom="",
            categories=tuple(Category),
            matched={},
            reason="no symptom given: every check the inputs allow",
        )
    lowered = normalise(text)
    hits = _resolve(_find_hits(lowered))
    stated: dict[Category, list[str]] = {}
    implied: dict[Category, tuple[str, str]] = {}
    for hit in hits:
        if hit.negated:
            continue
        for category in hit.signal.stated:
            stated.setdefault(category, [])
            if hit.words not in stated[category]:
                stated[category].append(hit.words)
    for hit in hits:
        if hit.negated:
            continue
        for category in hit.signal.implied:
            if category not in stated and category not in implied:
                implied[category] = (hit.words, hit.signal.why)
    ignored = tuple(dict.fromkeys(h.words for h in hits if h.negated))
    if stated:
        matched = {c: tuple(w) for c, w in stated.items()}
        for category, (words, _) in implied.items():
            matched[category] = (words,)
        categories = tuple(c for c in Category if c in matched)
        parts = [
            f"{c.label}: matched {', '.join(repr(w) for w in stated[c])}"
            if c in stated
            else f"{c.label}: implied by {implied[c][0]!r} ({implied[c][1]})"
            for c in categories
        ]
        if ignored:
            parts.append(f"ignored as negated: {', '.join(repr(w) for w in ignored)}")
        return Route(
            symptom=text,
            categories=categories,
            matched=matched,
            reason="; ".join(parts),
            stated=tuple(c for c in Category if c in stated),
            implied={c: why for c, (_, why) in implied.items()},
            ignored=ignored,
        )
    ambiguous = _matches(lowered, AMBIGUOUS)
    why = (
        f"{', '.join(repr(w) for w in ambiguous)} names no single cause"
        if ambiguous
        else "no known symptom word matched"
    )
    if ignored:
        why += f" (ignored as negated: {', '.join(repr(w) for w in ignored)})"
    return Route(
        symptom=text,
        categories=AMBIGUOUS_CATEGORIES,
        matched={},
        reason=f"{why}: running both the speed and the accuracy checks",
        ignored=ignored,
    )


def _clauses(text: str) -> list[tuple[int, int]]:
    """(start, end) of each clause of `text`."""
    bounds: list[tuple[int, int]] = []
    start = 0
    for brk in _CLAUSE_BREAK.finditer(text):
        bounds.append((start, brk.start()))
        start = brk.end()
    bounds.append((start, len(text)))
    return bounds


def _find_hits(text: str) -> list[Hit]:
    clauses = _clauses(text)
    claimed: list[tuple[int, int]] = []
    hits: list[tuple[int, Hit]] = []
    for signal in SIGNALS:
        for match in re.finditer(rf"(?<![\w.])(?:{signal.pattern})(?![\w])", text):
            begin, end = match.span()
            if begin == end or any(begin < e and b < end for b, e in claimed):
                continue
            claimed.append((begin, end))
            index = next(i for i, (b, e) in enumerate(clauses) if b <= begin <= e)
            clause_start, clause_end = clauses[index]
            hits.append(
                (
                    begin,
                    Hit(
                        words=match.group(0),
                        signal=signal,
                        clause=index,
                        negated=_negated(text[clause_start:begin], text[end:clause_end]),
                    ),
                )
            )
    return [hit for _, hit in sorted(hits, key=lambda pair: pair[0])]


def _negated(before: str, after: str) -> bool:
    """'no errors', 'not slow', 'without any 5xx', 'memory looks flat', 'p50 is fine'."""
    words = re.findall(r"[\w']+", before)[-2:]
    if any(w in _NEGATORS or w.endswith("n't") for w in words):
        return True
    return _FINE_AFTER.match(after) is not None


def _resolve(hits: list[Hit]) -> list[Hit]:
    """Apply the per-clause rules (module docstring, steps 4 and 5)."""
    live = [h for h in hits if not h.negated]
    memory_named = any(h.signal.role is Role.MEMORY for h in live)
    resolved: list[Hit] = []
    for hit in hits:
        if hit.negated:
            resolved.append(hit)
            continue
        same_clause = [h for h in live if h.clause == hit.clause and h is not hit]
        role = hit.signal.role
        signal = hit.signal
        if role is Role.MODIFIER or (role is Role.NEUTRAL and not signal.implied):
            continue
        if role is Role.WEAK_FAILURE and any(
            {S, P, M} & set(h.signal.stated) for h in live if h.signal.role is not role
        ):
            continue  # "tail latencies blow up": the size of another symptom
        if role in (Role.SLOWNESS, Role.WEAK_SPEED) and any(
            h.signal.role is Role.MODIFIER for h in same_clause
        ):
            signal = _as(signal, P)
        elif role is Role.WEAK_SPEED and any(P in h.signal.stated for h in live):
            continue  # "latency graph looks odd, big spikes every 30s": the tail is the point
        if role is Role.WEAK_QUALITY and any(
            _names_symptom(h) and h.signal.role is not Role.WEAK_QUALITY for h in same_clause
        ):
            continue
        if role is Role.CRASH and memory_named:
            signal = _as(signal, M)
        resolved.append(Hit(words=hit.words, signal=signal, clause=hit.clause))
    return resolved


def _names_symptom(hit: Hit) -> bool:
    return bool(hit.signal.stated) and hit.signal.role is not Role.MODIFIER


def _as(signal: Signal, category: Category) -> Signal:
    """The same match read as `category` alone (a slowness under 'sometimes' is a spike)."""
    return Signal(pattern=signal.pattern, stated=(category,), role=signal.role)


def _matches(text: str, patterns: Iterable[str]) -> tuple[str, ...]:
    found: list[str] = []
    for pattern in patterns:
        for match in re.finditer(rf"(?<![\w.])(?:{pattern})(?![\w])", text):
            if match.group(0) not in found:
                found.append(match.group(0))
    return tuple(found)
