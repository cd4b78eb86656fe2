/**
 * The words of the generated call transcripts (bench/load/big-dataset.ts): everyday English of
 * a customer-service line, most frequent first, drawn with Zipf's law (rank r has weight 1 / r),
 * which is how word frequencies fall in real speech. What a full-text index costs depends on
 * that shape: a few words in almost every row, a long tail in few.
 *
 * Only letters: the index's tokenizer (unicode61) splits on apostrophes, so "can't" would be
 * two tokens that no real transcript of ours pairs that way.
 */
const WORDS = `
i you the to a and it is that my for yes order can of in me on have do we this your so be
what no just with at okay not are was get like but if there account help please thank
sure one need know right about will want call would from how they here see all when up
check number now let out time could go back did an week today name new or some get got
it's payment card phone any by more as then email already last been has day because good
two also still can really again them make other think come sorry which our him her said
who only tell find were hello hi well did thanks very much where take send give way look
next first should delivery refund address package shipping bill charge price plan service
problem issue question minute hour morning afternoon evening tomorrow yesterday monday
friday weekend month year date store online website app password login code message text
hold moment second transfer agent manager support team store item items product box size
color black white blue red small large free cost pay paid money dollars credit debit bank
cancel change update confirm receive received arrive arrived late early wrong broken damaged
missing return exchange replace replacement tracking status ship shipped deliver delivered
home work office house street city zip state country postal apartment door floor building
family wife husband kid kids friend mother father sister brother son daughter people person
open close closed start stop wait waiting long short fast slow quick easy hard help helped
buy bought sell sold pick picked drop dropped leave left stay call called calling answer
asked ask told tell say says talk talking speak spoke hear heard listen understand mean
great fine nice bad better best worse worst happy sad upset angry glad fair okay alright
thing things something nothing anything everything someone anyone everyone nobody maybe
probably actually exactly basically really pretty quite enough almost always never often
sometimes usually again still yet already soon later before after during until since while
because though although unless whether either neither both each every few many most several
morning noon night tonight week weeks days months years hours minutes seconds times first
second third last final little big old young same different another own real whole full
half empty ready able free busy sure certain possible available unavailable correct
information details record records note notes reference case ticket file form request
online offline mobile computer laptop tablet screen button page link email emails inbox
order orders ordered ordering purchase purchases receipt invoice statement balance due fee
fees discount coupon offer sale deal points rewards member membership subscription renew
trial upgrade downgrade monthly yearly annual plan plans option options choice choose
chose select selected pick choose add added remove removed delete deleted save saved keep
kept lose lost find found search searched try tried trying use used using work worked
working fix fixed fixing set setting settings turn turned reset restart install installed
download downloaded upload connect connected connection internet network signal wifi router
battery charger cable screen camera speaker headphones watch printer ink paper keyboard
mouse television remote light power outlet switch water heater oven fridge washer dryer
lunch dinner breakfast coffee food pizza table chair bed couch lamp shelf desk window
car truck bike bus train flight ticket seat hotel room booking reservation trip travel
doctor appointment pharmacy prescription insurance claim policy coverage benefit premium
`
  .split(/\s+/)
  .filter((word) => /^[a-z]+$/.test(word));

/** Distinct words: a few appear twice in the list above, and the first occurrence sets the rank. */
export const VOCABULARY: readonly string[] = [...new Set(WORDS)];

/**
 * The word searched as "common": "order", the word the issue searched, at rank 13 of the list,
 * which puts it in about one transcript in eight (the 430 ms search matched every one).
 */
export const COMMON_WORD = "order";
/**
 * The word searched as "rare": absent from the vocabulary, and placed in exactly RARE_HITS
 * transcripts spread over the whole table, whatever its size.
 */
export const RARE_WORD = "warranty";
export const RARE_HITS = 100;

/** Size of the inverse-CDF table: every vocabulary word's share is well above 1 / this. */
const TABLE_BITS = 16;

/**
 * Draws words by rank with Zipf weights through a lookup table (one multiply and one load per
 * word): 50 million words are drawn for the full dataset.
 */
export class ZipfWords {
  private readonly table: Uint16Array;

  constructor(readonly words: readonly string[] = VOCABULARY) {
    const weights = words.map((_, rank) => 1 / (rank + 1));
    const total = weights.reduce((a, b) => a + b, 0);
    this.table = new Uint16Array(1 << TABLE_BITS);
    let cumulative = 0;
    let slot = 0;
    for (let rank = 0; rank < words.length; rank++) {
      cumulative += weights[rank]! / total;
      const end =
        rank === words.length - 1 ? this.table.length : Math.round(cumulative * this.table.length);
      for (; slot < end; slot++) this.table[slot] = rank;
    }
  }

  /** `random` returns a uniform number in [0, 1). */
  next(random: () => number): string {
    return this.words[this.table[Math.floor(random() * this.table.length)]!]!;
  }

  /** A turn of `min`..`max` words. */
  sentence(random: () => number, min = 6, max = 18): string {
    const length = min + Math.floor(random() * (max - min + 1));
    let text = this.next(random);
    for (let i = 1; i < length; i++) text += ` ${this.next(random)}`;
    return text;
  }
}
