import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import test from 'ava'

import { fastEipLookup } from '../ts/evm/eips.ts'

test('the Set-backed isActivatedEIP answers as ethereumjs does, across hardfork and EIP changes', (t) => {
  const plain = new Common({ chain: Mainnet, hardfork: Hardfork.Chainstart })
  const fast = fastEipLookup(new Common({ chain: Mainnet, hardfork: Hardfork.Chainstart }))
  t.not(fast.isActivatedEIP, plain.isActivatedEIP, 'the lookup is installed')
  const eips = [1153, 1559, 2537, 2929, 2930, 3198, 3529, 3541, 3651, 3855, 3860, 4788, 4844, 5656, 6780, 7516, 7702, 99999]
  const agree = (c: Common) => {
    for (const eip of eips) t.is(c.isActivatedEIP(eip), plain.isActivatedEIP(eip), `EIP-${eip} at ${plain.hardfork()}`)
  }
  let active = 0
  for (const hf of [Hardfork.Chainstart, Hardfork.Berlin, Hardfork.London, Hardfork.Shanghai, Hardfork.Cancun, Hardfork.Prague, Hardfork.Berlin]) {
    plain.setHardfork(hf)
    fast.setHardfork(hf)
    agree(fast)
    agree(fast.copy())
    active += eips.filter((e) => fast.isActivatedEIP(e)).length
  }
  plain.setEIPs([1153])
  fast.setEIPs([1153])
  agree(fast)
  t.true(active > 20, 'the hardforks activate some of the EIPs asked about')
})
