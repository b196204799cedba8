import subprocess
import sys
import textwrap


def test_theory_imports_without_jax():
    code = textwrap.dedent(
        """
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "jax" or name.startswith(("jax.", "jaxlib")):
                    raise ImportError(f"blocked import of {name}")
                return None

        sys.meta_path.insert(0, Block())
        import limitlab
        import limitlab.theory
        from limitlab.theory import parse_expression, two_layer_fourth_cumulant
        import sympy as sp
        u = sp.Symbol("u", real=True)
        assert two_layer_fourth_cumulant(sp.Max(u, 0), 4)[1] == sp.Rational(15, 16)
        assert not any(m == "jax" or m.startswith(("jax.", "jaxlib")) for m in sys.modules)
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
