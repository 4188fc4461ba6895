// SPDX-License-Identifier: MIT
// Contracts for parallel-evm's differential tests and benchmarks. Compiled by
// scripts/build-contracts.ts into ../fixtures/contracts.json.
pragma solidity ^0.8.20;

import "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// A plain OpenZeppelin ERC-20; the deployer receives the supply.
contract Token is ERC20 {
    constructor(uint256 supply) ERC20("Parallel Test Token", "PTT") {
        _mint(msg.sender, supply);
    }
}

/// One storage slot that every call increments: a fully dependent workload.
contract Counter {
    uint256 public count;

    function increment() external {
        count += 1;
    }
}

/// Odds and ends: coinbase balance reads, reverts, gas burning, value forwarding.
contract Probe {
    uint256 public lastCoinbaseBalance;
    uint256 public sink;

    function recordCoinbaseBalance() external {
        lastCoinbaseBalance = block.coinbase.balance;
    }

    function fail() external pure {
        revert("deliberate");
    }

    function spin(uint256 n) external {
        uint256 x;
        for (uint256 i = 0; i < n; i++) {
            x += i * i;
        }
        sink = x;
    }

    function forward(address payable to) external payable {
        (bool ok, ) = to.call{value: msg.value}("");
        require(ok, "forward failed");
    }
}

contract Child {
    uint256 public value;

    constructor() payable {
        value = 1;
    }

    function set(uint256 v) external {
        value = v;
    }

    function kill(address payable to) external {
        selfdestruct(to);
    }
}

/// CREATE, CREATE2 and SELFDESTRUCT.
contract Factory {
    event Created(address child);

    function create() external payable returns (address c) {
        c = address(new Child{value: msg.value}());
        emit Created(c);
    }

    function create2(bytes32 salt) external payable returns (address c) {
        c = address(new Child{salt: salt, value: msg.value}());
        emit Created(c);
    }

    /// Creates a child and destroys it in the same transaction (deleted even under EIP-6780).
    function createAndKill(bytes32 salt, address payable to) external payable returns (address c) {
        Child ch = new Child{salt: salt, value: msg.value}();
        ch.set(42);
        ch.kill(to);
        c = address(ch);
    }
}

interface IPairLike {
    function getReserves() external view returns (uint112, uint112, uint32);
    function token0() external view returns (address);
    function swap(uint256 amount0Out, uint256 amount1Out, address to, bytes calldata data) external;
}

interface ITokenLike {
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// A single-hop Uniswap V2 swap: pay `amountIn` of `tokenIn` into `pair`, receive the other token.
contract SwapRouter {
    function swap(address pair, address tokenIn, uint256 amountIn, address to) external returns (uint256 out) {
        require(ITokenLike(tokenIn).transferFrom(msg.sender, pair, amountIn), "transferFrom failed");
        (uint112 r0, uint112 r1, ) = IPairLike(pair).getReserves();
        bool zeroIn = IPairLike(pair).token0() == tokenIn;
        (uint256 rin, uint256 rout) = zeroIn ? (uint256(r0), uint256(r1)) : (uint256(r1), uint256(r0));
        uint256 inWithFee = amountIn * 997;
        out = (inWithFee * rout) / (rin * 1000 + inWithFee);
        IPairLike(pair).swap(zeroIn ? 0 : out, zeroIn ? out : 0, to, "");
    }
}
